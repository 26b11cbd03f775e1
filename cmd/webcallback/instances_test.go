package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/testenv"
)

// runMainEnv makes the test binary run main (the real webcallback) when a
// test starts it as a subprocess: a process to kill -9, a lock that dies
// with it, without building the binary separately.
const runMainEnv = "WEBCALLBACK_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is a webcallback subprocess.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	url  string
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

// Log is what the process wrote to stderr so far.
func (p *proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// freePort is a loopback address nothing listens on now.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProc runs `webcallback args...` with a clean environment (no
// WEBCALLBACK_* of the developer's shell) and kills it at the end of the test.
func startProc(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Args[0] = "webcallback"
	p.cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log:\n%s", strings.Join(args, " "), p.Log())
		}
	})
	return p
}

// startServe runs `webcallback serve` on a free port and waits until it
// answers /healthz.
func startServe(t testing.TB, args ...string) *proc {
	t.Helper()
	addr := freePort(t)
	p := startProc(t, append([]string{"serve", "--listen", addr}, args...)...)
	p.url = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("serve exited at start: %s", p.Log())
		default:
		}
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve did not answer in 30 s: %s", p.Log())
	return nil
}

// TestSQLiteSingleInstance: a second service process on one SQLite
// database refuses with a line pointing to MariaDB/PostgreSQL and exit
// status 1; once the first dies (kill -9: no clean-up of its own) a new one
// starts, as the lock died with it.
func TestSQLiteSingleInstance(t *testing.T) {
	testenv.Require(t, !testing.Short(), "subprocess test; not with -short")
	db := "sqlite:" + filepath.Join(t.TempDir(), "wcb.db")
	first := startServe(t, "--db", db)

	second := startProc(t, "serve", "--listen", freePort(t), "--db", db)
	select {
	case <-second.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a second instance on the same SQLite database started")
	}
	if code := second.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("second instance: exit status %d, want 1", code)
	}
	log := second.Log()
	for _, want := range []string{"SQLite serves one service instance", "MariaDB", "PostgreSQL", "in use by process"} {
		if !strings.Contains(log, want) {
			t.Errorf("second instance's refusal lacks %q:\n%s", want, log)
		}
	}

	first.cmd.Process.Kill() // SIGKILL
	<-first.done
	startServe(t, "--db", db) // the lock died with the first
}
