package app_test

import (
	"os"
	"testing"

	"webcallback/internal/testenv"
)

// servicesAtOnce is how many tests marked t.Parallel, each with a service
// of its own (SQLite in a temporary folder, a sandbox PBX, loopback
// ports), run at once when go test is not given -parallel: they wait for
// the sandbox's calls and the AMI link's retries, not computing.
const servicesAtOnce = 4

func TestMain(m *testing.M) { os.Exit(testenv.RunWaitBound(m, servicesAtOnce)) }
