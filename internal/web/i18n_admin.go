package web

// adminNames are the operator's words, per language ({en, zh}), for the
// contract's states and reasons, the eligibility rules, CDR dispositions and
// the dashboard's own labels. The visitor's texts ("state.calling_caller":
// "Calling you — answer your phone") speak to the visitor; the dashboard
// needs short names. A new state or reason is one line here (the message
// test lists the contract's names and fails on a missing one).
var adminNames = map[string][2]string{
	// States.
	"adm.state.rejected":        {"rejected", "未受理"},
	"adm.state.queued":          {"queued", "排队中"},
	"adm.state.calling_caller":  {"calling the caller", "正在呼叫主叫"},
	"adm.state.caller_answered": {"caller answered", "主叫已接听"},
	"adm.state.confirming":      {"caller confirming", "等待主叫确认"},
	"adm.state.calling_callee":  {"calling the callee", "正在呼叫被叫"},
	"adm.state.connected":       {"connected", "通话中"},
	"adm.state.completed":       {"completed", "已完成"},
	"adm.state.failed":          {"failed", "失败"},
	"adm.state.canceled":        {"canceled", "已取消"},
	// Reasons, and the error codes of rejected requests.
	"adm.reason.limit_reached":           {"time limit reached", "通话时间已到"},
	"adm.reason.callee_hangup":           {"callee hung up", "被叫挂机"},
	"adm.reason.caller_hangup":           {"caller hung up", "主叫挂机"},
	"adm.reason.caller_busy":             {"caller busy", "主叫忙"},
	"adm.reason.caller_no_answer":        {"caller did not answer", "主叫未接听"},
	"adm.reason.caller_unreachable":      {"caller unreachable", "主叫无法接通"},
	"adm.reason.caller_no_confirm":       {"caller did not confirm", "主叫未确认"},
	"adm.reason.callee_busy":             {"callee busy", "被叫忙"},
	"adm.reason.callee_rejected":         {"callee declined", "被叫拒接"},
	"adm.reason.callee_no_answer":        {"callee did not answer", "被叫未接听"},
	"adm.reason.callee_invalid":          {"callee number does not exist", "被叫号码不存在"},
	"adm.reason.callee_opted_out":        {"callee opted out", "被叫已拒绝来电"},
	"adm.reason.network_error":           {"network error", "网络错误"},
	"adm.reason.pbx_lost":                {"PBX lost", "交换机中断"},
	"adm.reason.visitor":                 {"ended by the visitor", "访客结束"},
	"adm.reason.admin":                   {"ended by the operator", "管理员结束"},
	"adm.reason.invalid_number":          {"invalid number", "号码无效"},
	"adm.reason.same_number":             {"same number twice", "两个号码相同"},
	"adm.reason.destination_not_allowed": {"destination not allowed", "目的地不允许"},
	"adm.reason.not_eligible":            {"not eligible", "不符合条件"},
	"adm.reason.rate_limited":            {"rate limited", "请求过于频繁"},
	"adm.reason.system_busy":             {"system busy", "系统繁忙"},
	// Eligibility rules (store.Rule*).
	"adm.rule.blocked":                  {"blocked by an operator", "已被管理员封禁"},
	"adm.rule.callee_blocked":           {"callee blocked by an operator", "被叫已被管理员封禁"},
	"adm.rule.caller_connected_per_day": {"connected calls today (as caller)", "今日接通次数（主叫）"},
	"adm.rule.caller_attempts_per_day":  {"requests today (as caller)", "今日申请次数（主叫）"},
	"adm.rule.caller_billsec_per_day":   {"talk seconds today (as caller)", "今日通话秒数（主叫）"},
	"adm.rule.caller_billsec_lifetime":  {"talk seconds ever (as caller)", "累计通话秒数（主叫）"},
	"adm.rule.caller_cooldown":          {"pause between two requests", "两次申请间隔"},
	"adm.rule.callee_per_day":           {"rung today (as callee)", "今日被呼叫次数（被叫）"},
	// CDR dispositions (the option values stay Asterisk's).
	"adm.disp.ANSWERED":   {"answered", "已接听"},
	"adm.disp.NO ANSWER":  {"no answer", "未接听"},
	"adm.disp.BUSY":       {"busy", "忙"},
	"adm.disp.FAILED":     {"failed", "失败"},
	"adm.disp.CONGESTION": {"congestion", "拥塞"},
	// Dashboard labels.
	"adm.date":               {"Date", "日期"},
	"adm.time_zone":          {"time zone", "时区"},
	"adm.asr":                {"answer rate", "接通率"},
	"adm.acd":                {"average talk", "平均通话"},
	"adm.seconds":            {"s", "秒"},
	"adm.quotas":             {"Why this number may or may not call now", "此号码现在能否呼叫及原因"},
	"adm.quota":              {"Quota", "配额"},
	"adm.used":               {"Used", "已用"},
	"adm.limit":              {"Limit", "上限"},
	"adm.quota_state":        {"State", "状态"},
	"adm.resets":             {"Resets", "重置时间"},
	"adm.refused":            {"refused", "拒绝"},
	"adm.ok":                 {"ok", "正常"},
	"adm.no_quota":           {"No quota applies (--limits off).", "未启用配额（--limits off）。"},
	"adm.since_last":         {"%s since the last request", "距上次申请 %s"},
	"adm.ami":                {"AMI", "AMI"},
	"adm.nodes":              {"Asterisk nodes", "Asterisk 节点"},
	"adm.nodes_hint":         {"A drained node finishes its live calls and gets no new ones, on every instance.", "排空的节点会完成正在进行的通话，但所有实例都不再向它分配新呼叫。"},
	"adm.node":               {"Node", "节点"},
	"adm.node_state":         {"State", "状态"},
	"adm.node_live":          {"Calls here", "本实例通话"},
	"adm.node_calls":         {"Calls (service)", "通话（全服务）"},
	"adm.node_max":           {"Max", "上限"},
	"adm.drain":              {"Drain", "排空"},
	"adm.undrain":            {"Resume", "恢复"},
	"adm.nodestate.up":       {"up", "正常"},
	"adm.nodestate.down":     {"down", "断开"},
	"adm.nodestate.draining": {"draining", "排空中"},
	"adm.admin_off":          {"The admin interface is off on this server: no admin token is set.", "本服务器未启用管理界面：没有设置管理令牌。"},
	"adm.admin_off_how":      {"To turn it on, start serve with a long random token, as below (or put admin-token-file in its --config file), then sign in here with that token. See README and docs/security.md.", "要启用它，请按下面的命令用一个足够长的随机令牌启动 serve（或在 --config 文件中写 admin-token-file），然后在此处用这个令牌登录。详见 README 和 docs/security.md。"},
	"adm.chart.calls":        {"Calls per hour", "每小时呼叫"},
	"adm.chart.outcomes":     {"Outcomes", "结果分布"},
	"adm.chart.quality":      {"Answer rate and average talk time", "接通率与平均通话时长"},
	"adm.chart.asr":          {"answer rate %", "接通率 %"},
	"adm.chart.acd":          {"average talk s", "平均通话 秒"},
}

func init() {
	for k, v := range adminNames {
		messages[langEN][k], messages[langZH][k] = v[0], v[1]
	}
}
