package asterisk

// Module is one module the kit loads, and why. modules.conf is rendered
// from Modules with autoload=no, so Asterisk loads exactly these (a bare
// install autoloads ~200 modules and logs dozens of errors for those it has
// no configuration for). Each is "require"d: Asterisk refuses to start
// without it instead of failing the first call.
type Module struct {
	Name string // "app_dial.so"
	Why  string // a comment in modules.conf
}

// Modules is what the kit's configuration uses, in load order by group. To
// add a backend (say cdr_adaptive_odbc.so for a CDR database), append a
// line here: modules.conf and its test follow.
var Modules = []Module{
	// Dialplan: the applications and functions extensions.conf calls.
	{"pbx_config.so", "extensions.conf"},
	{"app_dial.so", "Dial"},
	{"app_playback.so", "Playback"},
	{"app_stack.so", "Gosub, Return"},
	{"app_exec.so", "ExecIf"},
	{"app_userevent.so", "UserEvent"},
	{"app_read.so", "Read (consent: the caller's 1, the callee's 1 or 9)"},
	{"func_strings.so", "FILTER, TOLOWER, STRFTIME"},
	{"func_logic.so", "IF"},
	{"func_dialplan.so", "DIALPLAN_EXISTS"},
	{"func_callerid.so", "CALLERID"},
	{"func_cdr.so", "CDR(userfield)"},
	{"func_channel.so", "CHANNEL(language), MASTER_CHANNEL"},
	// SIP trunk (chan_pjsip and what it requires) and media.
	{"res_pjproject.so", "pjproject for res_pjsip"},
	{"res_sorcery_config.so", "pjsip.conf objects"},
	{"res_sorcery_memory.so", "pjsip runtime objects"},
	{"res_sorcery_astdb.so", "pjsip contacts and registrations"},
	{"res_pjsip.so", "the SIP stack"},
	{"res_pjsip_session.so", "SIP calls"},
	{"res_pjsip_pubsub.so", "required by chan_pjsip"},
	{"chan_pjsip.so", "PJSIP channels"},
	{"res_pjsip_sdp_rtp.so", "audio in SDP"},
	{"res_pjsip_caller_id.so", "the caller ID the callee sees (From, P-Asserted-Identity)"},
	{"res_pjsip_nat.so", "Contact and Via behind NAT"},
	{"res_pjsip_rfc3326.so", "Q.850 causes from the Reason header (busy, no answer, ...)"},
	{"res_pjsip_outbound_registration.so", "trunk-mode register"},
	{"res_pjsip_outbound_authenticator_digest.so", "digest auth toward the carrier"},
	{"res_pjsip_endpoint_identifier_ip.so", "trunk-mode ip: identify the gateway by address"},
	{"res_pjsip_logger.so", "pjsip set logger on, for debugging the trunk"},
	{"res_rtp_asterisk.so", "RTP"},
	{"res_timing_timerfd.so", "timing for playback and bridging"},
	{"bridge_simple.so", "two-party bridge"},
	{"bridge_native_rtp.so", "media directly between the legs when possible"},
	{"codec_ulaw.so", "G.711 mu-law"},
	{"codec_alaw.so", "G.711 A-law"},
	{"codec_gsm.so", "GSM"},
	// The prompt formats in /var/lib/asterisk/sounds/<lang>/.
	{"format_wav.so", ".wav"},
	{"format_pcm.so", ".ulaw, .alaw"},
	{"format_gsm.so", ".gsm"},
	// CDRs as AMI events (the AMI itself is in the core).
	{"cdr_manager.so", "Cdr events"},
}
