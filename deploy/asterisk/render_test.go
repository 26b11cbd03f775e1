package asterisk

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

const (
	testAMISecret  = "Am1-secret-0123456789"
	testSIPPass    = "Sip;pass-9876543210"
	testSIPPassEsc = `Sip\;pass-9876543210`
)

func registerSettings() Settings {
	s := DefaultSettings()
	s.TrunkMode = TrunkRegister
	s.RegisterServer = "sip.carrier.example:5060"
	s.RegisterUsername = "u-12345"
	s.RegisterPassword = testSIPPass
	s.AMISecret = testAMISecret
	s.DID = "862150001000"
	return s
}

func ipSettings() Settings {
	s := DefaultSettings()
	s.AMISecret = testAMISecret
	return s
}

func mustRender(t *testing.T, s Settings) map[string]*Conf {
	t.Helper()
	files, err := Render(s)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	confs := map[string]*Conf{}
	for _, name := range Files {
		b, ok := files[name]
		if !ok {
			t.Fatalf("Render did not return %s", name)
		}
		c, err := ParseConf(b)
		if err != nil {
			t.Fatalf("%s does not parse: %v", name, err)
		}
		confs[name] = c
	}
	if len(files) != len(Files) {
		t.Fatalf("Render returned %d files, want %d", len(files), len(Files))
	}
	return confs
}

func mustDialplan(t *testing.T, s Settings) *Dialplan {
	t.Helper()
	d, err := ParseDialplan(mustRender(t, s)["extensions.conf"])
	if err != nil {
		t.Fatalf("ParseDialplan: %v", err)
	}
	return d
}

func get(t *testing.T, c *Conf, section, key string) string {
	t.Helper()
	s := c.Section(section)
	if s == nil {
		t.Fatalf("no [%s]", section)
	}
	v, ok := s.Get(key)
	if !ok {
		t.Fatalf("[%s] has no %s", section, key)
	}
	return v
}

// TestSecretsStayInTheirFile: the AMI secret only in manager.conf, the trunk
// password only in pjsip.conf, each exactly where Asterisk reads it.
func TestSecretsStayInTheirFile(t *testing.T) {
	s := registerSettings()
	files, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if got := bytes.Contains(b, []byte(testAMISecret)); got != (name == "manager.conf") {
			t.Errorf("%s contains the AMI secret: %v", name, got)
		}
		hasPass := bytes.Contains(b, []byte(testSIPPassEsc)) || bytes.Contains(b, []byte(testSIPPass))
		if hasPass != (name == "pjsip.conf") {
			t.Errorf("%s contains the trunk password: %v", name, hasPass)
		}
	}
	confs := mustRender(t, s)
	if got := get(t, confs["manager.conf"], s.AMIUser, "secret"); got != testAMISecret {
		t.Errorf("manager.conf secret = %q", got)
	}
	if got := get(t, confs["pjsip.conf"], "gateway-auth", "password"); got != testSIPPass {
		t.Errorf("pjsip.conf password parses as %q, want %q (';' escaped)", got, testSIPPass)
	}
}

// TestMissingSecretsArePlaceholders: no secret given → no secret line that
// Asterisk would read, a loud comment, and Missing says so.
func TestMissingSecretsArePlaceholders(t *testing.T) {
	s := registerSettings()
	s.AMISecret, s.RegisterPassword = "", ""
	if got := len(s.Missing()); got != 2 {
		t.Fatalf("Missing() = %v, want 2 entries", s.Missing())
	}
	files, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	confs := mustRender(t, s)
	if _, ok := confs["manager.conf"].Section(s.AMIUser).Get("secret"); ok {
		t.Error("manager.conf has a secret although none was given")
	}
	if _, ok := confs["pjsip.conf"].Section("gateway-auth").Get("password"); ok {
		t.Error("pjsip.conf has a password although none was given")
	}
	for _, name := range []string{"manager.conf", "pjsip.conf"} {
		if !bytes.Contains(files[name], []byte("!!! NO ")) {
			t.Errorf("%s does not say the secret is missing", name)
		}
	}
	for _, sample := range []string{"secret = secret", "secret = 123456", "secret = changeme", "amp111"} {
		if bytes.Contains(files["manager.conf"], []byte(sample)) {
			t.Errorf("manager.conf contains the sample %q", sample)
		}
	}
	if m := ipSettings().Missing(); len(m) != 0 {
		t.Errorf("ip mode with a secret: Missing() = %v", m)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Settings)
		want string // "" = valid
	}{
		{"default", func(*Settings) {}, ""},
		{"register", func(s *Settings) { *s = registerSettings() }, ""},
		{"ipv6 gateway", func(s *Settings) { s.GatewayHost = "2001:db8::1" }, ""},
		{"trunk newline", func(s *Settings) { s.Trunk = "gw\n[evil]" }, "trunk name"},
		{"trunk empty", func(s *Settings) { s.Trunk = "" }, "trunk name"},
		{"ami user bracket", func(s *Settings) { s.AMIUser = "a]b" }, "AMI user"},
		{"secret with newline", func(s *Settings) { s.AMISecret = "abcdefgh\nwrite=all" }, "AMI secret"},
		{"secret with space", func(s *Settings) { s.AMISecret = "abcd efgh" }, "AMI secret"},
		{"secret short", func(s *Settings) { s.AMISecret = "short" }, "AMI secret"},
		{"bad mode", func(s *Settings) { s.TrunkMode = "magic" }, "trunk mode"},
		{"gateway host junk", func(s *Settings) { s.GatewayHost = "host;x" }, "gateway host"},
		{"gateway port", func(s *Settings) { s.GatewayPort = 70000 }, "gateway port"},
		{"register no user", func(s *Settings) { *s = registerSettings(); s.RegisterUsername = "" }, "register user"},
		{"register bad server", func(s *Settings) { *s = registerSettings(); s.RegisterServer = "a b" }, "register server"},
		{"register bad port", func(s *Settings) { *s = registerSettings(); s.RegisterServer = "h:99999" }, "register server"},
		{"register password quote", func(s *Settings) { *s = registerSettings(); s.RegisterPassword = `abc"defgh` }, "trunk password"},
		{"bad from domain", func(s *Settings) { *s = registerSettings(); s.FromDomain = "-x" }, "from domain"},
		{"ami bind host name", func(s *Settings) { s.AMIBind = "localhost:5038" }, "AMI bind"},
		{"ami permit", func(s *Settings) { s.AMIPermit = "everyone" }, "AMI permit"},
		{"sip bind", func(s *Settings) { s.SIPBind = "0.0.0.0" }, "SIP bind"},
		{"did letters", func(s *Settings) { s.DID = "12ab" }, "DID"},
		{"lang", func(s *Settings) { s.Lang = "fr" }, "language"},
		{"limit zero", func(s *Settings) { s.CallLimit = 0 }, "call limit"},
		{"warning above limit", func(s *Settings) { s.CallWarning = s.CallLimit }, "call warning"},
		{"warning fraction", func(s *Settings) { s.CallWarning = 1500 * time.Millisecond }, "call warning"},
		{"ring zero", func(s *Settings) { s.CalleeRing = 0 }, "callee ring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSettings()
			tt.mod(&s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				mustRender(t, s)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.want)
			}
			if _, err := Render(s); err == nil {
				t.Fatal("Render accepted invalid settings")
			}
		})
	}
}

func TestManagerConf(t *testing.T) {
	s := ipSettings()
	s.AMIPermit = "10.1.2.0/24"
	s.AMIBind = "10.1.2.3:5039"
	m := mustRender(t, s)["manager.conf"]
	tests := []struct{ section, key, want string }{
		{"general", "enabled", "yes"},
		{"general", "bindaddr", "10.1.2.3"},
		{"general", "port", "5039"},
		{s.AMIUser, "permit", "10.1.2.0/255.255.255.0"},
		{s.AMIUser, "read", "system,call,cdr,user"},
		{s.AMIUser, "write", "originate,call,reporting"},
	}
	for _, tt := range tests {
		if got := get(t, m, tt.section, tt.key); got != tt.want {
			t.Errorf("[%s] %s = %q, want %q", tt.section, tt.key, got, tt.want)
		}
	}
	u := m.Section(s.AMIUser)
	if got := u.All("deny"); !slices.Contains(got, "0.0.0.0/0.0.0.0") {
		t.Errorf("deny = %v, want everything denied before permit", got)
	}
	// Reading system events (FullyBooted, Shutdown) grants nothing; every
	// write class but the three needed would.
	v, _ := u.Get("write")
	for _, class := range strings.Split(v, ",") {
		if class != "originate" && class != "call" && class != "reporting" {
			t.Errorf("write grants %q", class)
		}
	}
	v, _ = u.Get("read")
	for _, class := range strings.Split(v, ",") {
		switch class {
		case "command", "config", "all", "dialplan", "agent", "log", "verbose", "security":
			t.Errorf("read includes %q (noise or secrets)", class)
		}
	}
	// The event filter must let through exactly the consumed events, and
	// with regexp semantics close enough to POSIX ERE for this pattern.
	filter := get(t, m, s.AMIUser, "eventfilter")
	re, err := regexp.Compile(strings.ReplaceAll(filter, "[[:space:]]", `\s`))
	if err != nil {
		t.Fatalf("eventfilter %q: %v", filter, err)
	}
	for _, ev := range []string{"UserEvent", "Cdr", "OriginateResponse", "Hangup", "DialEnd", "FullyBooted"} {
		if !re.MatchString("Event: " + ev + "\r\nPrivilege: call,all\r\n") {
			t.Errorf("eventfilter drops %s", ev)
		}
	}
	for _, ev := range []string{"VarSet", "Newexten", "HangupRequest", "RTCPSent", "DialState"} {
		if re.MatchString("Event: " + ev + "\r\nPrivilege: call,all\r\n") {
			t.Errorf("eventfilter lets %s through", ev)
		}
	}
}

func TestPJSIPConf(t *testing.T) {
	t.Run("ip", func(t *testing.T) {
		s := ipSettings()
		s.GatewayHost, s.GatewayPort = "192.0.2.10", 5080
		p := mustRender(t, s)["pjsip.conf"]
		var endpoint, aor, identify *Section
		for _, sec := range p.SectionsNamed("gateway") {
			switch typ, _ := sec.Get("type"); {
			case typ == "aor":
				aor = sec
			case slices.Contains(sec.Inherits, "webcallback-trunk"):
				endpoint = sec
			}
		}
		identify = p.Section("gateway-identify")
		if endpoint == nil || aor == nil || identify == nil {
			t.Fatalf("endpoint %v, aor %v, identify %v", endpoint, aor, identify)
		}
		if v, _ := aor.Get("contact"); v != "sip:192.0.2.10:5080" {
			t.Errorf("aor contact = %q", v)
		}
		if v, _ := identify.Get("match"); v != "192.0.2.10" {
			t.Errorf("identify match = %q", v)
		}
		tmpl := p.Section("webcallback-trunk")
		if tmpl == nil || !tmpl.Template {
			t.Fatal("no [webcallback-trunk](!) template")
		}
		if v, _ := tmpl.Get("context"); v == wcbproto.Context {
			t.Error("inbound calls from the trunk would land in the callback context")
		}
		if p.Section("gateway-registration") != nil || p.Section("gateway-auth") != nil {
			t.Error("ip mode renders registration or auth")
		}
	})
	t.Run("register", func(t *testing.T) {
		s := registerSettings()
		p := mustRender(t, s)["pjsip.conf"]
		reg := p.Section("gateway-registration")
		if reg == nil {
			t.Fatal("no registration")
		}
		for key, want := range map[string]string{
			"server_uri": "sip:sip.carrier.example:5060", "client_uri": "sip:u-12345@sip.carrier.example:5060",
			"outbound_auth": "gateway-auth", "contact_user": s.DID, "endpoint": "gateway",
		} {
			if v, _ := reg.Get(key); v != want {
				t.Errorf("registration %s = %q, want %q", key, v, want)
			}
		}
		if got := get(t, p, "gateway-auth", "username"); got != "u-12345" {
			t.Errorf("auth username = %q", got)
		}
		if got := get(t, p, "gateway-identify", "match"); got != "sip.carrier.example" {
			t.Errorf("identify match = %q", got)
		}
	})
}

func TestCDRConf(t *testing.T) {
	confs := mustRender(t, ipSettings())
	for _, tt := range []struct{ file, section, key, want string }{
		{"cdr.conf", "general", "enable", "yes"},
		{"cdr.conf", "general", "unanswered", "yes"},
		{"cdr.conf", "general", "congestion", "yes"},
		{"cdr.conf", "general", "endbeforehexten", "no"},
		{"cdr_manager.conf", "general", "enabled", "yes"},
	} {
		if got := get(t, confs[tt.file], tt.section, tt.key); got != tt.want {
			t.Errorf("%s [%s] %s = %q, want %q", tt.file, tt.section, tt.key, got, tt.want)
		}
	}
}

// internalVars are the dialplan's own variables, besides wcbproto.Vars and
// Asterisk's.
var internalVars = []string{"WCB_L", "WCB_STATUS", "WCB_CAUSE", "WCB_PROMPT", "WCB_TABLE", "WCB_USERFIELD", ConnectedVar, TalkVar, "WCB_TALK_R", KeyVar, RefusedVar}

// TestDialplanMatchesContract is the drift test against internal/wcbproto:
// context, entry point, variables, UserEvent names, headers and stages.
func TestDialplanMatchesContract(t *testing.T) {
	d := mustDialplan(t, ipSettings())
	entry := d.Extension(wcbproto.Context, wcbproto.Exten)
	if len(entry) == 0 || strconv.Itoa(entry[0].Priority) != wcbproto.Priority {
		t.Fatalf("no %s,%s,%s", wcbproto.Context, wcbproto.Exten, wcbproto.Priority)
	}

	// Every WCB_* variable the dialplan reads is the engine's or its own;
	// every one the engine sets (except the caller's digits, kept for the
	// CDR and logs) is read.
	files, _ := Render(ipSettings())
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{(WCB_[A-Z_]+)\}`).FindAllStringSubmatch(string(files["extensions.conf"]), -1) {
		used[m[1]] = true
	}
	for v := range used {
		if !slices.Contains(wcbproto.Vars, v) && !slices.Contains(internalVars, v) {
			t.Errorf("dialplan reads %s, which neither wcbproto.Vars nor the dialplan defines", v)
		}
	}
	for _, v := range wcbproto.Vars {
		if !used[v] && v != wcbproto.VarCaller {
			t.Errorf("engine sets %s but the dialplan never reads it", v)
		}
	}
	// Every engine variable is FILTER()ed before use.
	for _, v := range wcbproto.Vars {
		if v == wcbproto.VarCaller {
			continue
		}
		if !regexp.MustCompile(`Set\(` + v + `=\$\{FILTER\([^,]+,\$\{` + v + `\}\)\}\)`).Match(files["extensions.conf"]) {
			t.Errorf("%s is not re-filtered with FILTER()", v)
		}
	}

	evs, err := d.UserEvents()
	if err != nil {
		t.Fatal(err)
	}
	stageHeaders := map[string][]string{
		wcbproto.StageDialEnd: {wcbproto.HeaderDialStatus, wcbproto.HeaderCause, wcbproto.HeaderAnsweredMS, wcbproto.HeaderTalkMS},
		wcbproto.StagePrompt:  {wcbproto.HeaderPrompt},
		wcbproto.StageHangup:  {wcbproto.HeaderCause},
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Name != wcbproto.UserEvent {
			t.Errorf("line %d: UserEvent %q, want %q", ev.Line, ev.Name, wcbproto.UserEvent)
		}
		if len(ev.Keys) < 2 || ev.Keys[0] != wcbproto.HeaderID || ev.Keys[1] != wcbproto.HeaderStage {
			t.Errorf("line %d: headers %v, want %s and %s first", ev.Line, ev.Keys, wcbproto.HeaderID, wcbproto.HeaderStage)
			continue
		}
		stage := ev.Headers[wcbproto.HeaderStage]
		if !slices.Contains(wcbproto.Stages, stage) {
			t.Errorf("line %d: stage %q is not in wcbproto.Stages", ev.Line, stage)
		}
		seen[stage] = true
		want := append([]string{wcbproto.HeaderID, wcbproto.HeaderStage}, stageHeaders[stage]...)
		if !slices.Equal(ev.Keys, want) {
			t.Errorf("line %d: stage %s headers %v, want %v", ev.Line, stage, ev.Keys, want)
		}
	}
	for _, st := range wcbproto.Stages {
		if !seen[st] {
			t.Errorf("no UserEvent for stage %s", st)
		}
	}
	// The connected stage comes from Dial's U() subroutine.
	var dial *Step
	for _, st := range d.Contexts[wcbproto.Context] {
		if st.App == "Dial" {
			dial = &st
		}
	}
	if dial == nil {
		t.Fatal("no Dial")
	}
	args := SplitArgs(dial.Data)
	if len(args) != 3 || args[0] != "PJSIP/${WCB_CALLEE}@gateway" || args[1] != "${WCB_RING_S}" {
		t.Fatalf("Dial(%s)", dial.Data)
	}
	for _, opt := range []string{"g", "U(webcallback-connected^${WCB_ID}^${WCB_LANG}^${WCB_ANNOUNCE}^${WCB_CALLER})", "L(${WCB_L})"} {
		if !strings.Contains(args[2], opt) {
			t.Errorf("Dial options %q lack %q", args[2], opt)
		}
	}
	conn := d.Extension("webcallback-connected", "s")
	if len(conn) == 0 || conn[len(conn)-1].App != "Return" {
		t.Errorf("webcallback-connected does not Return: %+v", conn)
	}
	// The userfield keeps the original's prefix and adds the request id.
	uf := "CDR(userfield)=" + wcbproto.UserfieldPrefix + "${WCB_CAUSE}" + wcbproto.UserfieldIDPrefix + "${WCB_ID}"
	found := false
	for _, st := range d.Contexts[wcbproto.Context] {
		found = found || st.Data == uf
	}
	if !found {
		t.Errorf("no Set(%s)", uf)
	}
}

// TestCauseTablesMatchCalleeOutcome walks the rendered dialplan the way
// Asterisk would after Dial returns, for every DIALSTATUS and every Q.850
// cause, and compares the prompt with wcbproto.CalleeOutcome.
func TestCauseTablesMatchCalleeOutcome(t *testing.T) {
	d := mustDialplan(t, ipSettings())
	lookup := func(status string, cause int) callback.Prompt {
		ctx := "webcallback-cause-" + strings.ToLower(status)
		steps := d.Extension(ctx, strconv.Itoa(cause))
		if len(steps) == 0 {
			return callback.PromptSystemBusy // the dialplan's default before the lookup
		}
		if steps[0].App != "Return" {
			t.Fatalf("%s,%d: %s, want Return", ctx, cause, steps[0].App)
		}
		return callback.Prompt(steps[0].Data)
	}
	for _, status := range DialStatuses {
		if status == "ANSWER" {
			continue
		}
		for cause := 0; cause <= MaxCause+100; cause++ {
			want := cause
			if want > MaxCause {
				want = 100 // any cause the table lists no exception for
			}
			_, wantPrompt := wcbproto.CalleeOutcome(status, want)
			if got := lookup(status, cause); got != wantPrompt {
				t.Errorf("DIALSTATUS=%s cause %d: dialplan plays %q, CalleeOutcome says %q", status, cause, got, wantPrompt)
			}
		}
	}
	// docs/design.md §1 rows, spelled out.
	for _, tt := range []struct {
		status string
		cause  int
		want   callback.Prompt
	}{
		{"BUSY", 17, callback.PromptPartnerBusy},
		{"NOANSWER", 21, callback.PromptPartnerBusy},
		{"NOANSWER", 19, callback.PromptPartnerAway},
		{"NOANSWER", 16, callback.PromptPartnerAway}, // ring timeout
		{"NOANSWER", 1, callback.PromptInvalidNumber},
		{"CONGESTION", 34, callback.PromptSystemBusy},
		{"CHANUNAVAIL", 38, callback.PromptSystemBusy},
		{"CONGESTION", 28, callback.PromptInvalidNumber},
		{"INVALIDARGS", 28, callback.PromptInvalidNumber}, // no callee after FILTER()
		{"CANCEL", 16, callback.PromptNone},
	} {
		if got := lookup(tt.status, tt.cause); got != tt.want {
			t.Errorf("%s/%d: %q, want %q", tt.status, tt.cause, got, tt.want)
		}
	}
}

// TestWarningFile: the recorded warnings, the configured one (composed at
// install) and, for any other, a prompt without a number: never
// Asterisk's "timeleft", which plays English core sounds.
func TestWarningFile(t *testing.T) {
	s := ipSettings()
	s.CallWarning = 25 * time.Second
	d := mustDialplan(t, s)
	for _, tt := range []struct{ ms, want string }{
		{"20000", "TimeLeft20"}, {"10000", "TimeLeft10"}, {"60000", "TimeLeft60"}, {"25000", "TimeLeft25"},
		{"12345", PromptTimeAlmostUp}, {"5", PromptTimeAlmostUp}, {"20001", PromptTimeAlmostUp},
	} {
		steps := d.Extension("webcallback-warning", tt.ms)
		if len(steps) == 0 || steps[0].App != "Return" || steps[0].Data != tt.want {
			t.Errorf("warning %s ms: %+v, want Return(%s)", tt.ms, steps, tt.want)
		}
	}
}

func TestDialplanFallbacks(t *testing.T) {
	s := ipSettings()
	s.CallLimit, s.CallWarning, s.CalleeRing, s.WarnCallee, s.Lang = 120*time.Second, 10*time.Second, 45*time.Second, false, "en"
	files, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecIf($[${WCB_LIMIT_MS} < 1000]?Set(WCB_LIMIT_MS=120000))", "ExecIf($[${WCB_RING_S} < 1]?Set(WCB_RING_S=45))",
		"Set(WCB_LIMIT_MS=120000)", "Set(WCB_WARN_MS=10000)", "Set(WCB_RING_S=45)", "Set(WCB_WARN_CALLEE=no)", "Set(WCB_LANG=en)"} {
		if !bytes.Contains(files["extensions.conf"], []byte(want)) {
			t.Errorf("extensions.conf lacks the fallback %s", want)
		}
	}
}

// Where each application and function the dialplan uses comes from; every
// module must be required in modules.conf. "" = built into Asterisk.
var appModules = map[string]string{
	"Set": "", "GotoIf": "", "Goto": "", "Hangup": "", "NoOp": "",
	"ExecIf": "app_exec.so", "Dial": "app_dial.so", "Playback": "app_playback.so",
	"Gosub": "app_stack.so", "Return": "app_stack.so", "UserEvent": "app_userevent.so",
	"Read": "app_read.so", "SayDigits": "", // SayDigits is a pbx builtin
	"FILTER": "func_strings.so", "TOLOWER": "func_strings.so", "STRFTIME": "func_strings.so", "IF": "func_logic.so",
	"DIALPLAN_EXISTS": "func_dialplan.so", "CALLERID": "func_callerid.so",
	"CDR": "func_cdr.so", "CHANNEL": "func_channel.so", "MASTER_CHANNEL": "func_channel.so",
}

func TestModulesCoverDialplan(t *testing.T) {
	confs := mustRender(t, ipSettings())
	d, err := ParseDialplan(confs["extensions.conf"])
	if err != nil {
		t.Fatal(err)
	}
	required := confs["modules.conf"].Section("modules").All("require")
	fn := regexp.MustCompile(`([A-Z_]{2,})\(`)
	for _, ctx := range d.Order {
		for _, st := range d.Contexts[ctx] {
			names := []string{st.App}
			for _, m := range fn.FindAllStringSubmatch(st.Data, -1) {
				names = append(names, m[1])
			}
			for _, n := range names {
				mod, known := appModules[n]
				if !known {
					t.Errorf("line %d: %s is used but its module is unknown to this test", st.Line, n)
					continue
				}
				if mod != "" && !slices.Contains(required, mod) {
					t.Errorf("line %d: %s needs %s, not required in modules.conf", st.Line, n, mod)
				}
			}
		}
	}
	for _, mod := range []string{"chan_pjsip.so", "cdr_manager.so", "format_wav.so", "format_pcm.so", "format_gsm.so"} {
		if !slices.Contains(required, mod) {
			t.Errorf("modules.conf does not require %s", mod)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a, _ := Render(registerSettings())
	b, _ := Render(registerSettings())
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two renders", name)
		}
	}
}

// TestModulesAndLogger: modules.conf loads exactly Modules (no autoload: a
// bare Asterisk 22 would otherwise log dozens of errors for modules the kit
// never configures) and logger.conf gives a daemonised Asterisk a log.
func TestModulesAndLogger(t *testing.T) {
	confs := mustRender(t, ipSettings())
	m := confs["modules.conf"].Section("modules")
	if got := m.All("autoload"); len(got) != 1 || got[0] != "no" {
		t.Errorf("autoload %q, want no", got)
	}
	var want []string
	for _, mod := range Modules {
		want = append(want, mod.Name)
	}
	if got := m.All("require"); !slices.Equal(got, want) {
		t.Errorf("modules.conf requires %q, want Modules %q", got, want)
	}
	logs := confs["logger.conf"].Section("logfiles")
	if logs == nil || len(logs.All("messages.log")) != 1 || len(logs.All("full.log")) != 1 {
		t.Errorf("logger.conf logs to no file: %+v", logs)
	}
}
