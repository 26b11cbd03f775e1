//go:build !unix

package store

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// flockExclusive is a no-op where flock does not exist: the single-instance
// check is a Unix safeguard.
func flockExclusive(*os.File) error { return nil }
