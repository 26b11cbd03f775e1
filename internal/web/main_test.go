package web_test

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// browserTestsAtOnce is how many tests marked t.Parallel (the browser
// tests) run at once when go test is not given -parallel. Its default,
// GOMAXPROCS, is two on the CI machine, but these tests spend their time
// waiting for the sandbox's calls and the browser's pages, not computing:
// four at once overlap their waits (the longest, TestBrowserVisitorFlow,
// is mostly the sandbox's 0.6 time scale) without crowding two cores.
const browserTestsAtOnce = 4

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", strconv.Itoa(browserTestsAtOnce)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
