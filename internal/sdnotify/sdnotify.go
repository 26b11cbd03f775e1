// Package sdnotify tells systemd about the service's state over the
// notification socket of a Type=notify unit ($NOTIFY_SOCKET), with the
// standard library only: READY=1 once the service answers, STOPPING=1 when
// it begins to shut down, STATUS= for `systemctl status`.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Messages of the protocol (sd_notify(3)).
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
)

// Status is a STATUS= line: free text shown by `systemctl status`.
func Status(text string) string {
	return "STATUS=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(text)
}

// Notify sends the state lines to $NOTIFY_SOCKET. Without the variable (not
// started by systemd, or not Type=notify) it does nothing and reports false.
// An abstract socket is written "@name", as systemd does (and as package
// net reads a unix address).
func Notify(state ...string) (sent bool, err error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return false, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q: want a path or @abstract name", addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(state, "\n"))); err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	return true, nil
}
