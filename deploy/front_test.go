package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"webcallback/internal/app/apptest"
	"webcallback/internal/callback"
	"webcallback/internal/testenv"
)

// TestNginxFront runs the service behind Debian's nginx with the sample
// configuration (deploy/nginx/webcallback.conf, only its ports, upstream
// and certificate paths changed) on loopback, and follows a call through
// it: HTTPS, the client's address passed on (and a forged one dropped), the
// event stream delivered live (the call is hung up only once the stream
// has shown it connected) to the final event, the proxy's limits and HSTS.
func TestNginxFront(t *testing.T) {
	testenv.Require(t, lookPath("nginx"), "nginx is not installed (apt-get install nginx)")
	svc := startService(t)
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	httpsPort, httpPort := freePort(t), freePort(t)
	site := render(t, read(t, "nginx/webcallback.conf"),
		"server 127.0.0.1:8080;", "server "+strings.TrimPrefix(svc.URL, "http://")+";",
		"listen 80;", "listen 127.0.0.1:"+httpPort+";",
		"listen [::]:80;", "",
		"listen 443 ssl http2;", "listen 127.0.0.1:"+httpsPort+" ssl http2;",
		"listen [::]:443 ssl http2;", "",
		"/etc/letsencrypt/live/callback.example.com/fullchain.pem", cert,
		"/etc/letsencrypt/live/callback.example.com/privkey.pem", key,
		"root /var/www/html;", "root "+dir+";",
	)
	os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644)
	// The main configuration a Debian nginx.conf would be, in the test's
	// own prefix: pid, logs and temporary files stay in dir.
	main := fmt.Sprintf(`
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644)
	startProxy(t, dir, httpsPort, "nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; master_process off;")
	followThroughProxy(t, svc, "https://localhost:"+httpsPort, pool, http.StatusRequestEntityTooLarge)

	// Plain HTTP only redirects.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get("http://127.0.0.1:" + httpPort + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
		t.Errorf("http: %s, Location %q; want a redirect to https", resp.Status, resp.Header.Get("Location"))
	}
}

// adminToken lets the test hang up a connected call (the admin API).
const adminToken = "front-test-admin-token-0123456789abcdef"

// TestCaddyFront is TestNginxFront with the Caddy sample
// (deploy/caddy/Caddyfile; its site address, certificate and upstream
// changed, the admin endpoint off and its files kept in the test's
// directory).
func TestCaddyFront(t *testing.T) {
	testenv.Require(t, lookPath("caddy"), "caddy is not installed (apt-get install caddy)")
	svc := startService(t)
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	port := freePort(t)
	conf := render(t, read(t, "caddy/Caddyfile"),
		"\tservers {", "\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system "+dir+"\n\tservers {",
		"callback.example.com {", "https://localhost:"+port+" {\n\ttls "+cert+" "+key,
		"reverse_proxy 127.0.0.1:8080 {", "reverse_proxy "+strings.TrimPrefix(svc.URL, "http://")+" {",
	)
	path := filepath.Join(dir, "Caddyfile")
	os.WriteFile(path, []byte(conf), 0o644)
	t.Setenv("HOME", dir)
	t.Setenv("XDG_DATA_HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", dir)
	startProxy(t, dir, port, "caddy", "run", "--config", path, "--adapter", "caddyfile")
	// Caddy 2.6 (Debian 12) answers 502 when request_body cuts a body
	// short, later versions 413: either way it never reaches the service.
	followThroughProxy(t, svc, "https://localhost:"+port, pool, http.StatusRequestEntityTooLarge, http.StatusBadGateway)
}

// startService runs the service as serve does, believing the proxy on
// 127.0.0.1 only.
func startService(t *testing.T) *apptest.Service {
	return apptest.Start(t, nil, []string{"--trusted-proxies", "127.0.0.1/32", "--admin-token", adminToken, "--sandbox-time-scale", "0.05",
		"--call-limit", "1h", "--call-warning", "0", "--limits", "off", "--pow", "off"})
}

// startProxy runs a proxy as a child of the test (stopped at its end) and
// waits until it accepts connections on port.
func startProxy(t *testing.T, dir, port string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second) // hang guard
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			logs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("%s exited: %v\n%s%s", name, err, out.String(), logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never listened on %s\n%s", name, port, out.String())
		}
	}
}

// followThroughProxy places a call through the proxy at base and follows
// its events to the final one.
// tooLarge are the statuses the proxy may answer a body beyond its limit
// with.
func followThroughProxy(t *testing.T, svc *apptest.Service, base string, pool *x509.CertPool, tooLarge ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard
	defer cancel()
	// The visitor connects from 127.0.0.2, so the address the service
	// records can only have come from the proxy's X-Forwarded-For.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	client := &http.Client{Transport: &http.Transport{
		DialContext:     dialer.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
	}}
	post := func(body string, forged string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/callbacks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if forged != "" {
			req.Header.Set("X-Forwarded-For", forged)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post(`{"caller":"13800001001","callee":"13800002002"}`, "203.0.113.9")
	var r callback.Request
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || r.ID == "" {
		t.Fatalf("POST through the proxy: %s %+v", resp.Status, r)
	}
	if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS through the proxy: %v", resp.Header)
	}
	if stored, err := svc.Store.GetRequest(ctx, r.ID); err != nil || stored.ClientIP != "127.0.0.2" {
		t.Errorf("client address recorded by the service: %+v, %v; want 127.0.0.2 (forged 203.0.113.9 dropped)", stored, err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/callbacks/"+url.PathEscape(r.ID)+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	stream, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events through the proxy: %s %s", stream.Status, stream.Header.Get("Content-Type"))
	}
	var seen []callback.State
	hungUp := false
	sc := bufio.NewScanner(stream.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var u callback.Request
		if json.Unmarshal([]byte(data), &u) != nil || u.ID != r.ID {
			continue
		}
		if len(seen) == 0 || seen[len(seen)-1] != u.State {
			seen = append(seen, u.State)
		}
		// The call stays connected until hung up: only a live stream
		// brings this event while the call goes on. The operator hangs
		// up (a visitor cannot once connected), through the proxy too.
		if u.State == callback.StateConnected && !hungUp {
			hungUp = true
			del, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/api/v1/admin/calls/"+url.PathEscape(r.ID), nil)
			del.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := client.Do(del)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("DELETE through the proxy: %s %s", resp.Status, b)
			}
		}
		if event == "final" || u.State.Final() {
			break
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("event stream through the proxy: %v (seen %v)", err, seen)
	}
	if !hungUp || len(seen) == 0 || !seen[len(seen)-1].Final() {
		t.Fatalf("states through the proxy: %v; want connected, then a final one", seen)
	}
	t.Logf("states through the proxy: %v", seen)

	// The proxy's own limits: a body beyond the service's is refused
	// there; /metrics is not public.
	big := post(`{"caller":"`+strings.Repeat("1", 20<<10)+`"}`, "")
	big.Body.Close()
	if !slices.Contains(tooLarge, big.StatusCode) {
		t.Errorf("20 KB body through the proxy: %s; want %v", big.Status, tooLarge)
	}
	m, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, m.Body)
	m.Body.Close()
	if m.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics through the proxy: %s; want 404", m.Status)
	}
}

// selfSigned writes a certificate for localhost and 127.0.0.1 and its key
// into dir, and returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
