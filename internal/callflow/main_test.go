package callflow

import (
	"os"
	"testing"

	"webcallback/internal/testenv"
)

// rigsAtOnce is how many end-to-end tests (t.Parallel, each with a rig of
// its own: sandbox PBX, AMI link, SQLite store, engine) run at once when
// go test is not given -parallel. They spend their time waiting for the
// sandbox's clock (a 300 s talk is 1.5 s at testScale), not computing.
const rigsAtOnce = 8

func TestMain(m *testing.M) { os.Exit(testenv.RunWaitBound(m, rigsAtOnce)) }
