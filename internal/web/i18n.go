package web

import (
	"net/http"
	"strconv"
	"strings"
)

// The page and every error message exist in these languages. "zh" is
// Simplified Chinese (zh-CN); the prompt language of a request uses the same
// two codes (callback.Request.Lang).
const (
	langZH = "zh"
	langEN = "en"
)

// langCookie remembers the visitor's choice from the language switch.
const langCookie = "wcb_lang"

// messages is every visitor-facing text, by language then key. Keys of
// states, reasons and error codes are the contract names themselves
// ("state.connected", "reason.callee_busy", "error.rate_limited") so the
// page's script can look them up from an API object; a test checks that both
// languages have the same keys and that every contract name has a text.
var messages = map[string]map[string]string{
	langEN: {
		"html.lang":               "en",
		"title":                   "Free call",
		"tagline":                 "We ring your phone, then your friend's, and connect you. Free, no login.",
		"caller.label":            "Your phone number",
		"caller.hint":             "Mobile, or fixed line with area code. We call you first.",
		"call_now":                "Call now",
		"dialog.title":            "Who should we call?",
		"callee.label":            "Your friend's number",
		"callee.hint":             "Mobile, or fixed line with area code, e.g. 010 6552 9988.",
		"call":                    "Call",
		"back":                    "Back",
		"cancel":                  "Cancel the call",
		"again":                   "Call again",
		"remaining":               "Time left:",
		"talk_limit":              "Each call lasts at most %s.",
		"lang.switch":             "中文",
		"lang.switch.label":       "切换到中文",
		"status.title":            "Your call",
		"status.from":             "You:",
		"status.to":               "Your friend:",
		"status.refresh":          "This page refreshes by itself.",
		"status.connection":       "Connection lost, retrying…",
		"noscript":                "Fill in both numbers, then press Call.",
		"sandbox":                 "Demo mode: no real phones ring (sandbox PBX).",
		"admin.title":             "Web callback · admin",
		"adm.sign_in":             "Sign in",
		"adm.admin_token":         "Admin token",
		"adm.sign_out":            "Sign out",
		"adm.live_calls":          "Live calls",
		"adm.started":             "Started",
		"adm.caller":              "Caller",
		"adm.callee":              "Callee",
		"adm.state":               "State",
		"adm.action":              "Action",
		"adm.no_call_in_progress": "No call in progress.",
		"adm.statistics":          "Statistics",
		"adm.period":              "Period",
		"adm.last_24_hours":       "last 24 hours",
		"adm.last_7_days":         "last 7 days",
		"adm.last_30_days":        "last 30 days",
		"adm.refresh":             "Refresh",
		"adm.call_records_cdr":    "Call records (CDR)",
		"adm.number":              "Number",
		"adm.disposition":         "Disposition",
		"adm.any":                 "any",
		"adm.from":                "From",
		"adm.to":                  "To",
		"adm.search":              "Search",
		"adm.export_csv":          "Export CSV",
		"adm.src":                 "Src",
		"adm.dst":                 "Dst",
		"adm.billsec":             "Billsec",
		"adm.userfield":           "Userfield",
		"adm.previous":            "Previous",
		"adm.next":                "Next",
		"adm.numbers":             "Numbers",
		"adm.look_up":             "Look up",
		"adm.export_all_csv":      "Export all (CSV)",
		"adm.block":               "Block",
		"adm.always_allow":        "Always allow",
		"adm.remove_block_allow":  "Remove block/allow",
		"adm.audit_log":           "Audit log",
		"adm.do_not_call":         "Do-not-call list",
		"adm.do_not_call_hint":    "Numbers whose owner pressed 9 when called: requests to them are refused. Remove one only at the owner's request.",
		"adm.opted_out_at":        "Opted out",
		"adm.request":             "Request",
		"adm.remove":              "Remove",
		"adm.at":                  "At",
		"adm.actor":               "Actor",
		"adm.target":              "Target",
		"adm.detail":              "Detail",
		"adm.hang_up":             "Hang up",
		"adm.wrong_token":         "Wrong token.",
		"adm.the_admin_interface_is_disabled_on_this_server": "The admin interface is disabled on this server.",
		"adm.calls":                          "Calls",
		"adm.answered":                       "Answered",
		"adm.billed_seconds":                 "Billed seconds",
		"adm.last_call":                      "Last call",
		"adm.never":                          "never",
		"adm.eligible_now":                   "Eligible now",
		"adm.blocked":                        "Blocked",
		"adm.always_allowed":                 "Always allowed",
		"adm.yes":                            "yes",
		"adm.no":                             "no",
		"adm.ready":                          "Ready",
		"adm.no_records":                     "no records",
		"adm.of":                             "of",
		"adm.requests":                       "requests",
		"adm.connected":                      "connected",
		"adm.failed":                         "failed",
		"hang_up":                            "Hang up",
		"talk_time":                          "Talk time: %s",
		"retry.in":                           "You can try again in %s (at %s).",
		"retry.now":                          "You can try again now.",
		"retry.left":                         "Time to wait:",
		"dur.hour":                           "%d hour",
		"dur.hours":                          "%d hours",
		"dur.minute":                         "%d minute",
		"dur.minutes":                        "%d minutes",
		"dur.second":                         "%d second",
		"dur.seconds":                        "%d seconds",
		"dur.sep":                            " ",
		"reason.visitor_connected":           "You hung up.",
		"error.not_eligible.caller_cooldown": "Your number asked for a call a moment ago; there is a short wait between two calls.",
		"error.not_eligible.caller_connected_per_day": "Your number has used up today's free calls.",
		"error.not_eligible.caller_attempts_per_day":  "Your number has made as many requests as allowed today.",
		"error.not_eligible.caller_billsec_per_day":   "Your number has used up today's free talk time.",
		"error.not_eligible.caller_billsec_lifetime":  "Your number has used up its free talk time.",
		"error.not_eligible.blocked":                  "Your number may not use this service.",
		"error.not_eligible.callee_blocked":           "Your friend's number cannot be called by this service.",
		"error.not_eligible.callee_per_day":           "Your friend's number has been called as often as allowed today.",
		"error.rate_limited.caller":                   "Your number has asked for too many calls in a short time.",
		"error.rate_limited.callee":                   "Your friend's number has been called too often in a short time.",
		"error.invalid_number.caller":                 "Your number is not a valid phone number. Use a mobile number or a fixed line with area code.",
		"error.invalid_number.callee":                 "Your friend's number is not a valid phone number. Use a mobile number or a fixed line with area code.",
		"error.destination_not_allowed.caller":        "This service cannot call your number.",
		"error.destination_not_allowed.callee":        "This service cannot call your friend's number.",
		"step.calling_you":                            "Calling you",
		"step.answer":                                 "Answer your phone",
		"step.friend":                                 "Calling your friend",
		"step.connected":                              "Connected",

		"state.rejected":        "Not accepted",
		"state.queued":          "Calling you…",
		"state.calling_caller":  "Calling you — answer your phone",
		"state.caller_answered": "You answered. Please hold…",
		"state.confirming":      "Press 1 on your phone to call your friend",
		"state.calling_callee":  "Calling your friend…",
		"state.connected":       "Connected — talk now",
		"state.completed":       "Call ended",
		"state.failed":          "The call did not go through",
		"state.canceled":        "Call canceled",

		"reason.limit_reached":      "Time is up.",
		"reason.callee_hangup":      "Your friend hung up.",
		"reason.caller_hangup":      "You hung up.",
		"reason.caller_busy":        "Your line is busy.",
		"reason.caller_no_answer":   "You did not answer your phone.",
		"reason.caller_unreachable": "Your phone could not be reached.",
		"reason.callee_busy":        "Your friend's line is busy.",
		"reason.callee_rejected":    "Your friend's line is busy (the call was declined).",
		"reason.callee_no_answer":   "Your friend did not answer.",
		"reason.callee_invalid":     "Your friend's number does not exist.",
		"reason.caller_no_confirm":  "You did not press 1, so your friend was not called.",
		"reason.callee_opted_out":   "Your friend does not wish to be called by this service.",
		"reason.network_error":      "The network is busy. Please try again later.",
		"reason.pbx_lost":           "The call was cut off by a failure on our side. Please try again later.",
		"reason.visitor":            "You canceled the call.",
		"reason.admin":              "The operator ended the call.",

		"error.invalid_number":          "This is not a valid phone number. Use a mobile number or a fixed line with area code.",
		"error.same_number":             "Your number and your friend's number are the same.",
		"error.destination_not_allowed": "Calls to this number are not offered.",
		"error.not_eligible":            "This number has used up its free calls.",
		"error.callee_opted_out":        "The owner of this number has asked not to be called by this service.",
		"error.rate_limited":            "Too many requests from your network.",
		"error.system_busy":             "All lines are busy. Please try again in a few minutes.",
		"error.caller_required":         "Please enter your phone number.",
		"error.callee_required":         "Please enter your friend's number.",
		"error.bad_request":             "The request could not be read.",
		"error.body_too_large":          "The request is too large.",
		"error.unsupported_media_type":  "Send JSON (Content-Type: application/json).",
		"error.not_found":               "No such call.",
		"error.already_final":           "This call can no longer be canceled.",
		"error.csrf":                    "The form expired. Please reload the page and try again.",
		"error.unauthorized":            "A valid admin token is required.",
		"error.admin_disabled":          "The admin interface is disabled (no admin token configured).",
		"error.too_many_streams":        "Too many live views are open. Please try again later.",
		"error.method_not_allowed":      "This method is not allowed here.",
		"error.unavailable":             "This function is not available on this server.",
		"error.internal":                "Something went wrong on our side. Please try again.",
	},
	langZH: {
		"html.lang":               "zh-CN",
		"title":                   "免费电话",
		"tagline":                 "我们先拨打您的电话，再拨打您朋友的电话，然后为你们接通。免费，无需登录。",
		"caller.label":            "您的电话号码",
		"caller.hint":             "手机号，或带区号的固定电话。我们会先打给您。",
		"call_now":                "立即呼叫",
		"dialog.title":            "要打给谁？",
		"callee.label":            "朋友的电话号码",
		"callee.hint":             "手机号，或带区号的固定电话，例如 010 6552 9988。",
		"call":                    "呼叫",
		"back":                    "返回",
		"cancel":                  "取消呼叫",
		"again":                   "再打一次",
		"remaining":               "剩余通话时间：",
		"talk_limit":              "每次通话最长 %s。",
		"lang.switch":             "English",
		"lang.switch.label":       "Switch to English",
		"status.title":            "您的呼叫",
		"status.from":             "您：",
		"status.to":               "朋友：",
		"status.refresh":          "本页面会自动刷新。",
		"status.connection":       "连接中断，正在重试……",
		"noscript":                "请填写两个号码，然后按“呼叫”。",
		"sandbox":                 "演示模式：沙盒交换机，不拨打真实电话。",
		"admin.title":             "网页回拨 · 管理",
		"adm.sign_in":             "登录",
		"adm.admin_token":         "管理令牌",
		"adm.sign_out":            "退出",
		"adm.live_calls":          "实时通话",
		"adm.started":             "开始时间",
		"adm.caller":              "主叫",
		"adm.callee":              "被叫",
		"adm.state":               "状态",
		"adm.action":              "操作",
		"adm.no_call_in_progress": "当前没有通话。",
		"adm.statistics":          "统计",
		"adm.period":              "时间段",
		"adm.last_24_hours":       "最近 24 小时",
		"adm.last_7_days":         "最近 7 天",
		"adm.last_30_days":        "最近 30 天",
		"adm.refresh":             "刷新",
		"adm.call_records_cdr":    "通话记录 (CDR)",
		"adm.number":              "号码",
		"adm.disposition":         "结果",
		"adm.any":                 "全部",
		"adm.from":                "从",
		"adm.to":                  "到",
		"adm.search":              "搜索",
		"adm.export_csv":          "导出 CSV",
		"adm.src":                 "主叫号码",
		"adm.dst":                 "被叫号码",
		"adm.billsec":             "计费秒数",
		"adm.userfield":           "附加字段 (userfield)",
		"adm.previous":            "上一页",
		"adm.next":                "下一页",
		"adm.numbers":             "号码",
		"adm.look_up":             "查询",
		"adm.export_all_csv":      "全部导出 (CSV)",
		"adm.block":               "封禁",
		"adm.always_allow":        "始终允许",
		"adm.remove_block_allow":  "解除封禁/允许",
		"adm.audit_log":           "审计日志",
		"adm.do_not_call":         "免打扰名单",
		"adm.do_not_call_hint":    "这些号码的机主接到呼叫时按了 9：呼叫它们的请求都会被拒绝。仅在机主要求时才移除。",
		"adm.opted_out_at":        "加入时间",
		"adm.request":             "请求",
		"adm.remove":              "移除",
		"adm.at":                  "时间",
		"adm.actor":               "操作者",
		"adm.target":              "对象",
		"adm.detail":              "详情",
		"adm.hang_up":             "挂断",
		"adm.wrong_token":         "令牌错误。",
		"adm.the_admin_interface_is_disabled_on_this_server": "本服务器未启用管理功能。",
		"adm.calls":                          "呼叫次数",
		"adm.answered":                       "接通次数",
		"adm.billed_seconds":                 "计费秒数",
		"adm.last_call":                      "最近呼叫",
		"adm.never":                          "从未",
		"adm.eligible_now":                   "现在可用",
		"adm.blocked":                        "已封禁",
		"adm.always_allowed":                 "始终允许",
		"adm.yes":                            "是",
		"adm.no":                             "否",
		"adm.ready":                          "就绪",
		"adm.no_records":                     "无记录",
		"adm.of":                             "/",
		"adm.requests":                       "请求",
		"adm.connected":                      "接通",
		"adm.failed":                         "失败",
		"hang_up":                            "挂断",
		"talk_time":                          "通话时长：%s",
		"retry.in":                           "%s后（%s）可以再试。",
		"retry.now":                          "现在可以再试了。",
		"retry.left":                         "还需等待：",
		"dur.hour":                           "%d 小时",
		"dur.hours":                          "%d 小时",
		"dur.minute":                         "%d 分钟",
		"dur.minutes":                        "%d 分钟",
		"dur.second":                         "%d 秒",
		"dur.seconds":                        "%d 秒",
		"dur.sep":                            " ",
		"reason.visitor_connected":           "您已挂断。",
		"error.not_eligible.caller_cooldown": "您的号码刚刚申请过呼叫，两次呼叫之间需要稍等。",
		"error.not_eligible.caller_connected_per_day": "您的号码今天的免费通话次数已用完。",
		"error.not_eligible.caller_attempts_per_day":  "您的号码今天的申请次数已达上限。",
		"error.not_eligible.caller_billsec_per_day":   "您的号码今天的免费通话时间已用完。",
		"error.not_eligible.caller_billsec_lifetime":  "您的号码的免费通话时间已用完。",
		"error.not_eligible.blocked":                  "您的号码不能使用本服务。",
		"error.not_eligible.callee_blocked":           "本服务不能拨打您朋友的号码。",
		"error.not_eligible.callee_per_day":           "您朋友的号码今天被呼叫的次数已达上限。",
		"error.rate_limited.caller":                   "您的号码在短时间内申请呼叫太多次。",
		"error.rate_limited.callee":                   "您朋友的号码在短时间内被呼叫太多次。",
		"error.invalid_number.caller":                 "您的号码无效。请使用手机号或带区号的固定电话。",
		"error.invalid_number.callee":                 "您朋友的号码无效。请使用手机号或带区号的固定电话。",
		"error.destination_not_allowed.caller":        "本服务不能拨打您的号码。",
		"error.destination_not_allowed.callee":        "本服务不能拨打您朋友的号码。",
		"step.calling_you":                            "正在呼叫您",
		"step.answer":                                 "请接听电话",
		"step.friend":                                 "正在呼叫朋友",
		"step.connected":                              "已接通",

		"state.rejected":        "未受理",
		"state.queued":          "正在呼叫您……",
		"state.calling_caller":  "正在呼叫您——请接听电话",
		"state.caller_answered": "您已接听，请稍候……",
		"state.confirming":      "请在电话上按 1 呼叫您的朋友",
		"state.calling_callee":  "正在呼叫您的朋友……",
		"state.connected":       "已接通——请通话",
		"state.completed":       "通话结束",
		"state.failed":          "呼叫未能接通",
		"state.canceled":        "呼叫已取消",

		"reason.limit_reached":      "通话时间已到。",
		"reason.callee_hangup":      "您的朋友已挂机。",
		"reason.caller_hangup":      "您已挂机。",
		"reason.caller_busy":        "您的电话占线。",
		"reason.caller_no_answer":   "您没有接听电话。",
		"reason.caller_unreachable": "无法接通您的电话。",
		"reason.callee_busy":        "您朋友的电话占线。",
		"reason.callee_rejected":    "您朋友的电话忙（呼叫被拒绝）。",
		"reason.callee_no_answer":   "您的朋友没有接听。",
		"reason.callee_invalid":     "您朋友的号码是空号。",
		"reason.caller_no_confirm":  "您没有按 1，因此没有呼叫您的朋友。",
		"reason.callee_opted_out":   "您的朋友不希望接到本服务的来电。",
		"reason.network_error":      "网络忙，请稍后再试。",
		"reason.pbx_lost":           "通话因我方系统故障中断，请稍后再试。",
		"reason.visitor":            "您已取消呼叫。",
		"reason.admin":              "管理员结束了通话。",

		"error.invalid_number":          "电话号码无效。请使用手机号或带区号的固定电话。",
		"error.same_number":             "您的号码和朋友的号码相同。",
		"error.destination_not_allowed": "不提供拨打此号码的服务。",
		"error.not_eligible":            "此号码的免费通话次数已用完。",
		"error.callee_opted_out":        "此号码的机主已要求本服务不再呼叫。",
		"error.rate_limited":            "您所在网络的请求过多。",
		"error.system_busy":             "线路全忙，请几分钟后再试。",
		"error.caller_required":         "请输入您的电话号码。",
		"error.callee_required":         "请输入朋友的电话号码。",
		"error.bad_request":             "无法读取请求。",
		"error.body_too_large":          "请求过大。",
		"error.unsupported_media_type":  "请发送 JSON（Content-Type: application/json）。",
		"error.not_found":               "找不到这个呼叫。",
		"error.already_final":           "这个呼叫已无法取消。",
		"error.csrf":                    "表单已过期，请刷新页面后重试。",
		"error.unauthorized":            "需要有效的管理令牌。",
		"error.admin_disabled":          "管理功能已关闭（未配置管理令牌）。",
		"error.too_many_streams":        "打开的实时页面过多，请稍后再试。",
		"error.method_not_allowed":      "此处不允许该方法。",
		"error.unavailable":             "本服务器不提供此功能。",
		"error.internal":                "服务器出错，请重试。",
	},
}

// msg returns the text of key in lang, falling back to English and then to
// the key itself, so a missing translation shows up but never breaks a page.
func msg(lang, key string) string {
	if s, ok := messages[lang][key]; ok {
		return s
	}
	if s, ok := messages[langEN][key]; ok {
		return s
	}
	return key
}

// normLang maps any language tag to one we have, or "" if none fits.
func normLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	switch {
	case tag == "zh" || strings.HasPrefix(tag, "zh-") || strings.HasPrefix(tag, "zh_"):
		return langZH
	case tag == "en" || strings.HasPrefix(tag, "en-") || strings.HasPrefix(tag, "en_"):
		return langEN
	}
	return ""
}

// acceptLanguage picks the supported language the visitor prefers most from
// an Accept-Language header, or "" if it names none. Malformed parts are
// skipped; the header is bounded by the server's header limit.
func acceptLanguage(h string) string {
	best, bestQ := "", -1.0
	for i, part := range strings.Split(h, ",") {
		if i >= 32 { // nobody prefers 32 languages; bound the work
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		l := normLang(tag)
		if l == "" {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}

// requestLang is the language of a response: an explicit ?lang= (the
// switch), then the switch's cookie, then Accept-Language, then def.
func requestLang(r *http.Request, def string) string {
	if l := normLang(r.URL.Query().Get("lang")); l != "" {
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l := normLang(c.Value); l != "" {
			return l
		}
	}
	if l := acceptLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l
	}
	if l := normLang(def); l != "" {
		return l
	}
	return langZH
}
