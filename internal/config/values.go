package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"webcallback/internal/policy"
)

// The flag.Value types of the settings: how each kind of value is written
// on a command line, in a WEBCALLBACK_* variable or a settings-file line.

// durationValue accepts Go durations plus a "d" (days) suffix.
type durationValue struct{ p *time.Duration }

func (d *durationValue) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d *durationValue) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return fmt.Errorf("bad duration %q", s)
		}
		*d.p = time.Duration(days) * 24 * time.Hour
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (e.g. 300s, 5m, 90d)", s)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	*d.p = v
	return nil
}

type onOffValue struct{ p *bool }

func (o *onOffValue) String() string {
	if o.p != nil && !*o.p {
		return "off"
	}
	return "on"
}

func (o *onOffValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "on", "true", "1", "yes":
		*o.p = true
	case "off", "false", "0", "no":
		*o.p = false
	default:
		return fmt.Errorf("want on or off, not %q", s)
	}
	return nil
}

type prefixesValue struct{ p *[]netip.Prefix }

func (v *prefixesValue) String() string {
	if v.p == nil {
		return ""
	}
	var parts []string
	for _, p := range *v.p {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ",")
}

func (v *prefixesValue) Set(s string) error {
	*v.p = nil
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return fmt.Errorf("bad address %q", part)
			}
			part = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("bad CIDR %q", part)
		}
		*v.p = append(*v.p, p.Masked())
	}
	return nil
}

// ParseLimit reads "N/window" ("10/10m", "3/1h", "100/24h") or "off" / "0".
func ParseLimit(s string) (policy.Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return policy.Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return policy.Limit{}, fmt.Errorf("limit %q: want N/window, e.g. 10/10m, or off", s)
	}
	l := policy.Limit{}
	var err error
	if l.N, err = strconv.Atoi(strings.TrimSpace(n)); err != nil || l.N < 1 || l.N > 1_000_000 {
		return policy.Limit{}, fmt.Errorf("limit %q: N must be 1 to 1000000", s)
	}
	if l.Per, err = time.ParseDuration(strings.TrimSpace(per)); err != nil || l.Per < time.Second || l.Per > 7*24*time.Hour {
		return policy.Limit{}, fmt.Errorf("limit %q: window must be 1s to 168h", s)
	}
	return l, nil
}

// FormatLimit is the inverse of ParseLimit.
func FormatLimit(l policy.Limit) string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.N, l.Per)
}

// limitValue is a policy.Limit ("10/10m" or "off").
type limitValue struct{ p *policy.Limit }

func (v limitValue) String() string {
	if v.p == nil {
		return ""
	}
	return FormatLimit(*v.p)
}

func (v limitValue) Set(s string) error {
	l, err := ParseLimit(s)
	if err != nil {
		return err
	}
	*v.p = l
	return nil
}

// listValue is a comma-separated list ("" = empty); Validate checks the items.
type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Set(s string) error {
	*v.p = splitList(s)
	return nil
}

// typesValue is a comma-separated list of number types.
type typesValue struct{ p *[]policy.NumberType }

func (v typesValue) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, t := range *v.p {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func (v typesValue) Set(s string) error {
	var ts []policy.NumberType
	for _, item := range splitList(s) {
		t := policy.NumberType(strings.ToLower(item))
		if !policy.KnownType(t) {
			return fmt.Errorf("number type %q: want one of %s", item, strings.Join(policy.TypeNames(), ", "))
		}
		ts = append(ts, t)
	}
	*v.p = ts
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
