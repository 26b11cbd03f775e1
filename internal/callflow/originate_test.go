package callflow

import (
	"errors"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

func testConfig(t testing.TB, mod func(*Config)) Config {
	t.Helper()
	cfg := Config{}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestOriginateMessage(t *testing.T) {
	const id = "6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c"
	req := func(caller, callee, lang string) *callback.Request {
		return &callback.Request{ID: id, CallerDial: caller, CalleeDial: callee, Lang: lang}
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		r       *callback.Request
		want    map[string]string // header → value
		vars    map[string]string
		wantErr bool
	}{
		{
			name: "partner caller ID, defaults",
			r:    req("13800001001", "13811112002", "en"),
			want: map[string]string{
				"Action": "Originate", "Channel": "PJSIP/13800001001@gateway", "Context": wcbproto.Context,
				"Exten": "s", "Priority": "1", "CallerID": "<13811112002>", "Timeout": "30000",
				"ChannelId": id, "Async": "true", "ActionID": originateActionID(id),
			},
			vars: map[string]string{
				wcbproto.VarID: id, wcbproto.VarCaller: "13800001001", wcbproto.VarCallee: "13811112002",
				wcbproto.VarCalleeCID: "13800001001", wcbproto.VarLimitMS: "300000", wcbproto.VarWarnMS: "20000",
				wcbproto.VarWarnCallee: "no", wcbproto.VarRingS: "30", wcbproto.VarLang: "en",
			},
		},
		{
			name: "our DID both ways, custom times",
			mod: func(c *Config) {
				c.CallerIDMode, c.DID, c.Trunk = CallerIDDID, "4000123456", "carrier-1"
				c.CallerRing, c.CalleeRing, c.Limit, c.Warning, c.WarnCallee = 8*time.Second, 1500*time.Millisecond, time.Minute, 10*time.Second, true
			},
			r:    req("13800001001", "13811112002", ""),
			want: map[string]string{"Channel": "PJSIP/13800001001@carrier-1", "CallerID": "<4000123456>", "Timeout": "8000"},
			vars: map[string]string{
				wcbproto.VarCalleeCID: "4000123456", wcbproto.VarLimitMS: "60000", wcbproto.VarWarnMS: "10000",
				wcbproto.VarWarnCallee: "yes", wcbproto.VarRingS: "2", wcbproto.VarLang: "zh",
			},
		},
		{name: "CRLF injection in the callee", r: req("13800001001", "1381111\r\nAction: Command", "zh"), wantErr: true},
		{name: "dial string options", r: req("13800001001&PJSIP/999", "13811112002", "zh"), wantErr: true},
		{name: "context jump in a variable", r: req("13800001001", "1381,WCB_LIMIT_MS=99999999", "zh"), wantErr: true},
		{name: "empty caller", r: req("", "13811112002", "zh"), wantErr: true},
		{name: "too long", r: req(strings.Repeat("1", maxDialDigits+1), "13811112002", "zh"), wantErr: true},
		{name: "bad id", r: &callback.Request{ID: "x\nAction: Hangup", CallerDial: "1", CalleeDial: "2"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.mod)
			m, err := cfg.originate(tc.r)
			if tc.wantErr {
				if !errors.Is(err, errBadRequest) {
					t.Fatalf("err = %v, want errBadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got := m.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			vars := map[string]string{}
			for _, kv := range m.Values("Variable") {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
			for k, v := range tc.vars {
				if vars[k] != v {
					t.Errorf("variable %s = %q, want %q", k, vars[k], v)
				}
			}
			for _, k := range wcbproto.Vars {
				if _, ok := vars[k]; !ok {
					t.Errorf("variable %s missing", k)
				}
			}
			if m.Get("Application") != "" || m.Get("Data") != "" {
				t.Error("Originate must never run an Application")
			}
			if _, err := m.AppendTo(nil); err != nil {
				t.Errorf("message does not encode: %v", err)
			}
		})
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero value", Config{}, true},
		{"did without DID", Config{CallerIDMode: CallerIDDID}, false},
		{"did with letters", Config{CallerIDMode: CallerIDDID, DID: "40001x"}, false},
		{"unknown mode", Config{CallerIDMode: "spoof"}, false},
		{"trunk with @", Config{Trunk: "a@b"}, false},
		{"warning over limit", Config{Limit: 10 * time.Second, Warning: 20 * time.Second}, false},
		{"bad lang", Config{Lang: "fr"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.setDefaults()
			if (err == nil) != tc.ok {
				t.Fatalf("setDefaults() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// FuzzOriginate: whatever the request holds, the Originate is refused or
// is one well-formed action into the fixed context with digit-only dial strings.
func FuzzOriginate(f *testing.F) {
	f.Add("6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c", "13800001001", "13811112002", "zh")
	f.Add("id", "1380\r\n0001001", "1381111,2002", "en\n")
	f.Add("a/b", "1&2", "@3", ";")
	cfg := testConfig(f, nil)
	f.Fuzz(func(t *testing.T, id, caller, callee, lang string) {
		m, err := cfg.originate(&callback.Request{ID: id, CallerDial: caller, CalleeDial: callee, Lang: lang})
		if err != nil {
			return
		}
		wire, err := m.AppendTo(nil)
		if err != nil {
			t.Fatalf("accepted a message that does not encode: %v", err)
		}
		back, err := ami.NewReader(strings.NewReader(string(wire))).ReadMessage()
		if err != nil || back.Get("Context") != wcbproto.Context || len(back.Values("Channel")) != 1 {
			t.Fatalf("round trip: %v %v", back, err)
		}
		if !digitsOnly(caller) || !digitsOnly(callee) {
			t.Fatalf("accepted dial strings %q %q", caller, callee)
		}
	})
}
