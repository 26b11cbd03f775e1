package testenv

import (
	"flag"
	"strconv"
	"testing"
)

// RunWaitBound runs the tests of a package whose parallel tests
// (t.Parallel) spend their time waiting, for the sandbox PBX's clock, a
// child process or a browser page, not computing: up to atOnce of them run
// at once instead of the default of -parallel, GOMAXPROCS, which is two on
// the CI machine. A -parallel given on the command line wins. Call it from
// TestMain: os.Exit(testenv.RunWaitBound(m, 4)).
func RunWaitBound(m *testing.M, atOnce int) int {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", strconv.Itoa(atOnce)); err != nil {
			panic("testenv: " + err.Error())
		}
	}
	return m.Run()
}
