package e2e_test

import (
	"os"
	"testing"

	"webcallback/internal/testenv"
)

// browserTestsAtOnce is how many tests marked t.Parallel (the browser
// tests, each a tab of one browser) run at once when go test is not given
// -parallel: they spend their time waiting for the sandbox's calls, most
// of it the slow time scales that let a page show every stage, not
// computing, so all of them overlap their waits.
const browserTestsAtOnce = 8

func TestMain(m *testing.M) { os.Exit(testenv.RunWaitBound(m, browserTestsAtOnce)) }
