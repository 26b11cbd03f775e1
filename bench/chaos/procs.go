package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"webcallback/ami"
)

// buildBinary builds ./cmd/webcallback of the repository at root into dir.
func buildBinary(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "webcallback")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/webcallback")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/webcallback: %v\n%s", err, out)
	}
	return bin, nil
}

// repoRoot walks up from the working directory to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("not inside the repository (no go.mod above the working directory)")
		}
		dir = up
	}
}

// cleanEnv is the environment without WEBCALLBACK_* settings, so the
// developer's shell cannot point the soak's processes elsewhere.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBCALLBACK_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// proc is one subprocess the soak runs, restarts and kills (by its own
// pid only).
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	log  io.Writer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, p.log, p.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// kill9 sends SIGKILL to the process and waits for it to be gone.
func (p *proc) kill9() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// stop sends SIGTERM (the graceful stop) and waits up to wait, then kills.
func (p *proc) stop(wait time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(wait):
		cmd.Process.Kill()
		<-done
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool { return p.waitExit(0) }

// freePort asks the kernel for a free loopback port.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitListening waits until addr accepts connections or ctx ends.
func waitListening(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never listened: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitReady waits until the service's /readyz says ready, restarting it
// when it exits (a start may fail while the database refuses writes).
func waitReady(ctx context.Context, svc *proc, url string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		if svc.exited() {
			if err := svc.start(); err != nil {
				return err
			}
		}
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service never ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitExit waits up to wait for the process to end by itself (0: only
// looks).
func (p *proc) waitExit(wait time.Duration) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// coreStopNow logs in to the sandbox PBX at addr (plain login, as an
// operator's console) and sends "core stop now".
func coreStopNow(addr, secret string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("core stop now: %w", err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := ami.NewReader(nc)
	if _, err := r.ReadBanner(); err != nil {
		return fmt.Errorf("core stop now: banner: %w", err)
	}
	for _, m := range []*ami.Message{
		ami.NewMessage("Action", "Login", "ActionID", "1", "Username", "webcallback", "Secret", secret, "Events", "off"),
		ami.NewMessage("Action", "Command", "ActionID", "2", "Command", "core stop now"),
	} {
		b, err := m.AppendTo(nil)
		if err != nil {
			return err
		}
		if _, err := nc.Write(b); err != nil {
			return fmt.Errorf("core stop now: %w", err)
		}
		resp, err := r.ReadMessage()
		if err != nil {
			return fmt.Errorf("core stop now: %w", err)
		}
		if resp.Response() != "Success" {
			return fmt.Errorf("core stop now: %s: %s", m.Get("Action"), resp.Get("Message"))
		}
	}
	return nil
}
