package asterisk

import (
	"bytes"
	"strings"
	"testing"
)

func BenchmarkRender(b *testing.B) {
	s := registerSettings()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDialplan(b *testing.B) {
	files, err := Render(ipSettings())
	if err != nil {
		b.Fatal(err)
	}
	ext := files["extensions.conf"]
	b.SetBytes(int64(len(ext)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := ParseConf(ext)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseDialplan(c); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRenderSettings feeds hostile values into every free-text setting:
// either Validate refuses them, or every file parses, no section appears
// that the template did not write, and each secret stays in its own file.
func FuzzRenderSettings(f *testing.F) {
	f.Add("gateway", "webcallback", "Am1-secret-0123456789", "u-1", "Sip;pass-9876543210", "sip.example.com:5060", "10.0.0.1")
	f.Add("gw\n[evil]", "a]b", "x\nwrite=all", "u\n", "p\r\npassword=1", "h;x", "1.2.3.4;")
	f.Add("", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, trunk, user, amiSecret, regUser, regPass, server, gateway string) {
		for _, mode := range []string{TrunkIP, TrunkRegister} {
			s := DefaultSettings()
			s.TrunkMode, s.Trunk, s.AMIUser, s.AMISecret = mode, trunk, user, amiSecret
			s.RegisterUsername, s.RegisterPassword, s.RegisterServer, s.GatewayHost = regUser, regPass, server, gateway
			files, err := Render(s)
			if err != nil {
				continue
			}
			ref, err := Render(ipSettings())
			if err != nil {
				t.Fatal(err)
			}
			for name, b := range files {
				c, err := ParseConf(b)
				if err != nil {
					t.Fatalf("%s does not parse: %v", name, err)
				}
				rc, _ := ParseConf(ref[name])
				if name != "pjsip.conf" && len(c.Sections) != len(rc.Sections) {
					t.Fatalf("%s: %d sections, the reference has %d", name, len(c.Sections), len(rc.Sections))
				}
				// A secret that is also ordinary config text (say "transport")
				// proves nothing; skip those.
				if len(amiSecret) >= 8 && name != "manager.conf" && bytes.Contains(b, []byte(amiSecret)) && !bytes.Contains(ref[name], []byte(amiSecret)) {
					t.Fatalf("AMI secret in %s", name)
				}
				if mode == TrunkRegister && len(regPass) >= 8 && name != "pjsip.conf" && !bytes.Contains(ref[name], []byte(regPass)) &&
					(bytes.Contains(b, []byte(regPass)) || bytes.Contains(b, []byte(strings.ReplaceAll(regPass, ";", `\;`)))) {
					t.Fatalf("trunk password in %s", name)
				}
			}
		}
	})
}
