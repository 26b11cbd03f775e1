package policy

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The flag.Value types below let the settings loader (internal/config)
// expose every policy setting as a flag, a WEBCALLBACK_* variable or a
// settings-file line without parsing the formats itself:
//
//	fs.Var(policy.LimitValue(&pc.PerIP), "limit-per-ip", "requests per client address: N/window (10/10m), or off")
//	fs.Var(policy.ListValue(&pc.AllowRegions), "allow-regions", "regions besides --region callers may dial (HK,MO or *)")
//	fs.Var(policy.TypesValue(&pc.AllowedTypes), "allowed-number-types", "mobile,fixed_line,...")

// ParseLimit reads "N/window" ("10/10m", "3/1h", "100/24h") or "off" / "0".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("limit %q: want N/window, e.g. 10/10m, or off", s)
	}
	l := Limit{}
	var err error
	if l.N, err = strconv.Atoi(strings.TrimSpace(n)); err != nil || l.N < 1 || l.N > 1_000_000 {
		return Limit{}, fmt.Errorf("limit %q: N must be 1 to 1000000", s)
	}
	if l.Per, err = time.ParseDuration(strings.TrimSpace(per)); err != nil || l.Per < time.Second || l.Per > 7*24*time.Hour {
		return Limit{}, fmt.Errorf("limit %q: window must be 1s to 168h", s)
	}
	return l, nil
}

// FormatLimit is the inverse of ParseLimit.
func FormatLimit(l Limit) string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.N, l.Per)
}

type limitValue struct{ p *Limit }

// LimitValue is a flag.Value for a Limit ("10/10m" or "off").
func LimitValue(p *Limit) flag.Value {
	return limitValue{p}
}

func (v limitValue) String() string {
	if v.p == nil {
		return ""
	}
	return FormatLimit(*v.p)
}

func (v limitValue) Set(s string) error {
	l, err := ParseLimit(s)
	if err != nil {
		return err
	}
	*v.p = l
	return nil
}

type listValue struct{ p *[]string }

// ListValue is a flag.Value for a comma-separated list ("" = empty);
// Config.validate checks the items.
func ListValue(p *[]string) flag.Value {
	return listValue{p}
}

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Set(s string) error {
	*v.p = splitList(s)
	return nil
}

type typesValue struct{ p *[]NumberType }

// TypesValue is a flag.Value for a comma-separated list of number types.
func TypesValue(p *[]NumberType) flag.Value {
	return typesValue{p}
}

func (v typesValue) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, t := range *v.p {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func (v typesValue) Set(s string) error {
	var ts []NumberType
	for _, item := range splitList(s) {
		t := NumberType(strings.ToLower(item))
		if !knownType(t) {
			return fmt.Errorf("number type %q: want one of mobile, fixed_line, fixed_line_or_mobile, toll_free, premium_rate, shared_cost, voip, personal_number, pager, uan, voicemail, unknown", item)
		}
		ts = append(ts, t)
	}
	*v.p = ts
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
