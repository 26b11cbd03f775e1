package web_test

import (
	"os"
	"testing"

	"webcallback/internal/testenv"
)

// servicesAtOnce is how many tests marked t.Parallel, each with a service
// of its own (webtest.New), run at once when go test is not given
// -parallel: they wait for the sandbox's calls, not computing.
const servicesAtOnce = 4

func TestMain(m *testing.M) { os.Exit(testenv.RunWaitBound(m, servicesAtOnce)) }
