package policy

import "webcallback/internal/callback"

// messages are what visitors read, by code and field ("" = any field).
var messages = map[callback.Reason]map[string][2]string{ // [zh, en]
	callback.ReasonInvalidNumber: {
		"caller": {"您的号码无效，请输入手机号码或带区号的固定电话号码。", "Your number is not a valid phone number. Enter a mobile number or a fixed line with its area code."},
		"callee": {"对方号码无效，请输入手机号码或带区号的固定电话号码。", "Your friend's number is not a valid phone number. Enter a mobile number or a fixed line with its area code."},
		"":       {"号码无效。", "The number is not valid."},
	},
	callback.ReasonSameNumber: {
		"": {"两个号码不能相同。", "The two numbers must be different."},
	},
	callback.ReasonDestinationNotAllowed: {
		"caller": {"本服务不能拨打您的号码（只支持允许地区的手机和固定电话）。", "This service cannot call your number (only mobile and fixed lines in the allowed regions)."},
		"callee": {"本服务不能拨打对方号码（只支持允许地区的手机和固定电话）。", "This service cannot call your friend's number (only mobile and fixed lines in the allowed regions)."},
		"":       {"本服务不能拨打该号码。", "This service cannot call that number."},
	},
	callback.ReasonNotEligible: {
		"": {"此号码暂时不能使用免费回拨服务。", "This number cannot use the free callback service at the moment."},
	},
	callback.ReasonRateLimited: {
		"pow": {"正在验证您的浏览器，请稍候再试。", "Verifying your browser; please try again in a moment."},
		"":    {"请求过于频繁，请稍后再试。", "Too many requests; please try again later."},
	},
	callback.ReasonSystemBusy: {
		"": {"系统繁忙，请稍后再试。", "The system is busy; please try again later."},
	},
}

// Message is the refusal as the visitor reads it, in lang ("zh" or "en";
// anything else reads zh).
func (r *Refusal) Message(lang string) string {
	i := 0
	if lang == "en" {
		i = 1
	}
	byField := messages[r.Code]
	if m, ok := byField[r.Field]; ok {
		return m[i]
	}
	if m, ok := byField[""]; ok {
		return m[i]
	}
	return [2]string{"请求被拒绝。", "The request was refused."}[i]
}
