package abusetest

import (
	"fmt"
	"regexp"
	"strings"
)

// originateLine is what each header of an Originate may look like: fixed
// values, or digits, a UUID and short tokens where the request goes in.
var originateLine = map[string]*regexp.Regexp{
	"action":    regexp.MustCompile(`^Originate$`),
	"actionid":  regexp.MustCompile(`^[A-Za-z0-9-]+$`),
	"channel":   regexp.MustCompile(`^PJSIP/[0-9]{3,20}@gateway$`),
	"context":   regexp.MustCompile(`^webcallback$`),
	"exten":     regexp.MustCompile(`^s$`),
	"priority":  regexp.MustCompile(`^1$`),
	"callerid":  regexp.MustCompile(`^<[0-9]{0,20}>$`),
	"timeout":   regexp.MustCompile(`^[0-9]+$`),
	"channelid": regexp.MustCompile(`^[0-9a-f-]{36}$`),
	"async":     regexp.MustCompile(`^true$`),
	"variable":  regexp.MustCompile(`^WCB_[A-Z_]+=[0-9A-Za-z-]{0,40}$`),
}

// checkOriginates verifies every Originate in AMI bytes header by header:
// nothing a visitor typed can be anything but digits there.
func checkOriginates(b []byte) error {
	for _, block := range strings.Split(string(b), "\r\n\r\n") {
		if !strings.HasPrefix(block, "Action: Originate\r\n") {
			continue
		}
		for _, line := range strings.Split(block, "\r\n") {
			k, v, ok := strings.Cut(line, ": ")
			re := originateLine[strings.ToLower(k)]
			if !ok || re == nil || !re.MatchString(v) {
				return fmt.Errorf("Originate line %q not allowed in\n%s", line, block)
			}
		}
	}
	return nil
}
