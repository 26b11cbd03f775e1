package abusetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// jsonBody is a create request with the given numbers, JSON-encoded (so
// control characters arrive as \r, \u0000, ...).
func jsonBody(caller, callee string) string {
	b, _ := json.Marshal(map[string]string{"caller": caller, "callee": callee})
	return string(b)
}

type corpusEntry struct {
	name, ctype string
	body        func() io.Reader
}

func str(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }

// injectionCorpus is every hostile body the suite sends; each must be
// refused with a 4xx and leave AMI untouched.
func injectionCorpus() []corpusEntry {
	const ok = "13800001001"
	var c []corpusEntry
	add := func(name, caller, callee string) {
		c = append(c, corpusEntry{name, "application/json", str(jsonBody(caller, callee))})
	}
	// CR, LF, NUL: a second AMI action smuggled in a header value.
	for _, inj := range []string{"\r\nAction: Originate\r\nChannel: Local/evil@default\r\nApplication: System\r\nData: touch /tmp/evil\r\n\r\n",
		"\nAction: Command\nCommand: core stop now\n\n", "\rAction: Logoff\r", "\x00evil", "\r\n1", "\u2028evil", "\u0085evil"} {
		add(fmt.Sprintf("control in caller %q", inj[:min(len(inj), 8)]), "13900001001"+inj, "13800002002")
		add(fmt.Sprintf("control in callee %q", inj[:min(len(inj), 8)]), ok, "13900001001"+inj)
	}
	// Dial-string and dialplan metacharacters.
	for _, m := range []string{"&", ",", "|", "/", "@", ";", ":", "!", "'", `"`, `\`, "$", "{", "}", "[", "]", "#", "*", "~", "`", "^", "%", "=", "?", "<", ">", "_", "\t&"} {
		add("metachar "+m, ok, "1390000"+m+"1001")
		add("metachar tail "+m, ok, "13900001001"+m+"PJSIP/evil@gateway")
	}
	for _, s := range []string{"PJSIP/13900001001@gateway", "Local/13900001001@default", "13900001001@evil",
		"${SHELL(touch /tmp/evil)}", "13900001001${EXTEN}", "$[1+1]13900001001", "13900001001,,L(1)", "13900001001&DAHDI/1"} {
		add("dial string "+s, ok, s)
	}
	// Unicode that is not a decimal digit, or hides in one.
	for _, s := range []string{"¹³⁹⁰⁰⁰⁰¹⁰⁰¹", "①③⑨⓪⓪⓪⓪①⓪⓪①", "\u202e13900001001", "139\u200d00001001", "139\u200b00001001",
		"1\u03013900001001", "l39OOOO1OO1", "ⅠⅢⅨ00001001", "１３９００００１００１\u0000", "\ufeff13900001001", "139\xff00001001"} {
		add(fmt.Sprintf("unicode %q", s), ok, s)
	}
	// Length.
	add("5000 digits", ok, strings.Repeat("9", 5000))
	add("5000 digits caller", strings.Repeat("1", 5000), "13900001001")
	add("+86 and 5000 digits", ok, "+86"+strings.Repeat("1", 5000))
	add("64 KiB of spaces", ok, "139"+strings.Repeat(" ", 64<<10)+"00001001")
	// SQL and HTML.
	for _, s := range []string{"13900001001' OR '1'='1", "1; DROP TABLE cdr; --", `13900001001"); DELETE FROM callback_request; --`,
		"13900001001' UNION SELECT secret FROM users --", "<script>alert(1)</script>", `<img src=x onerror=alert(1)>`,
		"&#49;&#51;&#57;00001001", "13900001001<!--", "{{.Secret}}"} {
		add(fmt.Sprintf("sql/html %q", s), ok, s)
		add(fmt.Sprintf("sql/html caller %q", s), s, "13900001001")
	}
	// Bodies.
	big := func() io.Reader {
		return io.MultiReader(strings.NewReader(`{"caller":"13800001001","callee":"`),
			bytes.NewReader(bytes.Repeat([]byte("9"), 2<<20)), strings.NewReader(`"}`))
	}
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	for _, e := range []corpusEntry{
		{"2 MB body", "application/json", big},
		{"2 MB of garbage", "application/json", func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{0xff, '\r', '\n'}, 700_000)) }},
		{"deep nesting", "application/json", str(deep)},
		{"truncated", "application/json", str(`{"caller":"13800001001","callee":`)},
		{"array", "application/json", str(`["13800001001","13900001001"]`)},
		{"null", "application/json", str(`null`)},
		{"string", "application/json", str(`"13800001001"`)},
		{"numbers not strings", "application/json", str(`{"caller":13800001001,"callee":13900001001}`)},
		{"nested value", "application/json", str(`{"caller":{"$ne":""},"callee":"13900001001"}`)},
		{"array value", "application/json", str(`{"caller":["13800001001"],"callee":"13900001001"}`)},
		{"trailing data", "application/json", str(`{"caller":"13800001001","callee":"13900001001"} {"caller":"x"}`)},
		{"invalid UTF-8", "application/json", str("{\"caller\":\"1380000\xc0\xaf1001\",\"callee\":\"13900001001\"}")},
		{"empty body", "application/json", str(``)},
		{"empty object", "application/json", str(`{}`)},
		{"form post", "application/x-www-form-urlencoded", str(`caller=13800001001&callee=13900001001`)},
		{"text/plain", "text/plain", str(jsonBody(ok, "13900001001"))},
		{"no content type", "", str(jsonBody(ok, "13900001001"))},
		{"multipart", "multipart/form-data; boundary=x", str("--x\r\nContent-Disposition: form-data; name=\"caller\"\r\n\r\n13800001001\r\n--x--\r\n")},
		{"honeypot", "application/json", str(`{"caller":"13800001001","callee":"13900001001","website":"http://spam.example"}`)},
		{"forged proof of work", "application/json", str(`{"caller":"13800001001","callee":"13900001001","pow":"\r\nAction: Originate"}`)},
	} {
		c = append(c, e)
	}
	return c
}

// TestInjectionCorpus: every hostile body is refused with a 4xx and not a
// byte reaches AMI.
func TestInjectionCorpus(t *testing.T) {
	e := newEnv(t, envOpts{})
	before := len(e.Tap.Sent())
	corpus := injectionCorpus()
	for i, c := range corpus {
		// One address per entry, so every entry takes the whole path
		// rather than the per-address limit.
		resp, b := e.post(t, c.ctype, c.body(), "X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/200, i%200+1))
		if resp.StatusCode < 400 || resp.StatusCode > 499 {
			t.Errorf("%s: %s %.200s", c.name, resp.Status, b)
		}
		if strings.Contains(string(b), "<script>") || strings.Contains(string(b), "<img") {
			t.Errorf("%s: markup echoed: %.200s", c.name, b)
		}
	}
	time.Sleep(300 * time.Millisecond) // anything asynchronous would show by now
	if sent := e.Tap.Sent(); len(sent) != before {
		t.Fatalf("the corpus wrote %d bytes to AMI: %q", len(sent)-before, sent[before:])
	}
	t.Logf("%d hostile bodies refused, 0 bytes to AMI", len(corpus))
}

// TestAcceptedInputIsClean: what people type with odd but honest
// characters is accepted, and what reaches AMI is digits.
func TestAcceptedInputIsClean(t *testing.T) {
	e := newEnv(t, envOpts{})
	bodies := []string{
		jsonBody("１３８００００１００１", "０１０－１２３４ ５６７８"),
		jsonBody("+86 (138) 0000-2002", "0086 755 1234 5678"),
		`{"caller":"13800003003","callee":"13900003003","channel":"Local/evil@default","context":"evil","application":"System"}`,
		jsonBody("١٣٨٠٠٠٠٤٠٠٤", "13900004004"),
		// The web trims surrounding whitespace, CR and LF included; inside a
		// number they are refused (the corpus above).
		jsonBody("\r\n13800005005\r\n", "\t13900005005\n"),
	}
	for i, body := range bodies {
		resp, b := e.post(t, "application/json", strings.NewReader(body), "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
		if resp.StatusCode != 201 {
			t.Fatalf("%s: %s %s", body, resp.Status, b)
		}
	}
	e.waitOriginates(t, len(bodies))
	sent := e.Tap.Sent()
	if err := checkOriginates(sent); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sent, []byte("evil")) {
		t.Fatalf("input reached AMI: %q", sent)
	}
}
