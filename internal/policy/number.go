package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxNumberInput is the longest input ParseNumber looks at, in bytes.
// Nobody types a 65-byte phone number; refusing early bounds the work an
// attacker can make libphonenumber do.
const MaxNumberInput = 64

// NumberType is the kind of line a number belongs to, as libphonenumber
// classifies it. The names are stable: they appear in settings
// (--allowed-number-types) and logs.
type NumberType string

const (
	TypeMobile            NumberType = "mobile"
	TypeFixedLine         NumberType = "fixed_line"
	TypeFixedLineOrMobile NumberType = "fixed_line_or_mobile"
	TypeTollFree          NumberType = "toll_free"
	TypePremiumRate       NumberType = "premium_rate"
	TypeSharedCost        NumberType = "shared_cost"
	TypeVoIP              NumberType = "voip"
	TypePersonalNumber    NumberType = "personal_number"
	TypePager             NumberType = "pager"
	TypeUAN               NumberType = "uan"
	TypeVoicemail         NumberType = "voicemail"
	TypeUnknown           NumberType = "unknown"
)

var numberTypes = map[phonenumbers.PhoneNumberType]NumberType{
	phonenumbers.MOBILE:               TypeMobile,
	phonenumbers.FIXED_LINE:           TypeFixedLine,
	phonenumbers.FIXED_LINE_OR_MOBILE: TypeFixedLineOrMobile,
	phonenumbers.TOLL_FREE:            TypeTollFree,
	phonenumbers.PREMIUM_RATE:         TypePremiumRate,
	phonenumbers.SHARED_COST:          TypeSharedCost,
	phonenumbers.VOIP:                 TypeVoIP,
	phonenumbers.PERSONAL_NUMBER:      TypePersonalNumber,
	phonenumbers.PAGER:                TypePager,
	phonenumbers.UAN:                  TypeUAN,
	phonenumbers.VOICEMAIL:            TypeVoicemail,
}

// Number is a phone number as the service uses it.
type Number struct {
	E164        string     // "+8613800001001": what is stored and shown
	National    string     // "138 0000 1001": for display in the home region
	Region      string     // ISO 3166 region of the number ("CN"), "001" for non-geographic
	CountryCode int        // 86
	Type        NumberType // mobile, fixed_line, ...
	// Dial is the digits the trunk dials: the national form (with trunk
	// prefix, "01012345678") for numbers of the home region, the
	// international prefix + country code + national number
	// ("00441632960123") for others. Only 0-9, never anything else: it goes
	// into an AMI Originate.
	Dial string
	// Prefix is the number without its last 4 digits, for per-prefix limits
	// ("+86138000"): one bot enumerating a block of numbers hits it.
	Prefix string
}

// ErrInvalidNumber is wrapped by every ParseNumber error.
var ErrInvalidNumber = errors.New("invalid phone number")

// ParseNumber parses what a person typed: spaces, dashes, dots, brackets,
// "+86", "0086", a national trunk prefix, full-width or other Unicode
// decimal digits. region is the home region ("CN"), used for numbers
// without a country code and to choose the Dial form. It accepts only
// numbers libphonenumber considers valid; the caller decides which types
// and destinations are allowed. intlPrefix (the --international-prefix
// setting, e.g. 00 or 011) is dialled before the country code of numbers
// outside region.
func ParseNumber(s, region, intlPrefix string) (Number, error) {
	if len(s) > MaxNumberInput {
		return Number{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidNumber, MaxNumberInput)
	}
	if !utf8.ValidString(s) {
		return Number{}, fmt.Errorf("%w: not UTF-8", ErrInvalidNumber)
	}
	// libphonenumber is lenient on purpose (it extracts a number from
	// surrounding text, reads letters as keypad digits and treats ";" or
	// "ext." as an extension). A visitor's input must be a number and
	// nothing else: fold what people type into ASCII, refuse the rest.
	s, err := foldNumber(s)
	if err != nil {
		return Number{}, err
	}
	if strings.TrimSpace(s) == "" {
		return Number{}, fmt.Errorf("%w: empty", ErrInvalidNumber)
	}
	pn, err := phonenumbers.Parse(s, region)
	if err != nil {
		return Number{}, fmt.Errorf("%w: %v", ErrInvalidNumber, err)
	}
	if pn.GetExtension() != "" {
		return Number{}, fmt.Errorf("%w: extensions are not supported", ErrInvalidNumber)
	}
	if !phonenumbers.IsValidNumber(pn) {
		return Number{}, fmt.Errorf("%w: not a valid number", ErrInvalidNumber)
	}
	n := Number{
		E164:        phonenumbers.Format(pn, phonenumbers.E164),
		National:    phonenumbers.Format(pn, phonenumbers.NATIONAL),
		Region:      phonenumbers.GetRegionCodeForNumber(pn),
		CountryCode: int(pn.GetCountryCode()),
		Type:        TypeUnknown,
	}
	if t, ok := numberTypes[phonenumbers.GetNumberType(pn)]; ok {
		n.Type = t
	}
	if n.Region == region {
		n.Dial = digitsOnly(n.National)
	} else {
		n.Dial = intlPrefix + digitsOnly(n.E164)
	}
	if len(n.E164) > 5 {
		n.Prefix = n.E164[:len(n.E164)-4]
	} else {
		n.Prefix = n.E164
	}
	if n.Dial == "" || digitsOnly(n.Dial) != n.Dial || !isE164(n.E164) {
		// Cannot happen with libphonenumber's output; checked because Dial
		// goes into an AMI action.
		return Number{}, fmt.Errorf("%w: cannot form a dial string", ErrInvalidNumber)
	}
	return n, nil
}

// DisplayNumber is how a stored E.164 number is shown to people of region:
// the national format ("138 0000 1001") for the region's own numbers, the
// international format ("+44 1632 960123") for others, the input itself when
// it does not parse (it is shown, never dialled).
func DisplayNumber(e164, region string) string {
	pn, err := phonenumbers.Parse(e164, region)
	if err != nil {
		return e164
	}
	if phonenumbers.GetRegionCodeForNumber(pn) == region {
		return phonenumbers.Format(pn, phonenumbers.NATIONAL)
	}
	return phonenumbers.Format(pn, phonenumbers.INTERNATIONAL)
}

// foldNumber maps every Unicode decimal digit to ASCII and full-width or
// typographic punctuation to its ASCII form, and refuses any other
// character. The result holds only 0-9, '+', '-', '(', ')', '.' and ' '.
func foldNumber(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '+', r == '-', r == '(', r == ')', r == '.', r == ' ':
			b.WriteRune(r)
		case unicode.IsDigit(r):
			b.WriteByte('0' + digitValue(r))
		case r == '＋':
			b.WriteByte('+')
		case r == '（' || r == '［':
			b.WriteByte('(')
		case r == '）' || r == '］':
			b.WriteByte(')')
		case r == '．' || r == '。':
			b.WriteByte('.')
		case r == '－' || r == '‐' || r == '‑' || r == '‒' || r == '–' || r == '—' || r == '−' || r == '～':
			b.WriteByte('-')
		case r == '\u00a0' || r == '\u3000' || r == '\u2009' || r == '\u202f' || r == '\t':
			b.WriteByte(' ')
		default:
			return "", fmt.Errorf("%w: unexpected character %q", ErrInvalidNumber, r)
		}
	}
	return b.String(), nil
}

// digitValue is the value of a Unicode decimal digit (category Nd). Unicode
// encodes every decimal digit set as a run of ten code points from 0 to 9,
// and runs that touch each other are whole sets, so the value is the
// distance from the start of the run, modulo 10.
func digitValue(r rune) byte {
	start := r
	for start > 0 && unicode.IsDigit(start-1) && r-start < 100 {
		start--
	}
	return byte((r - start) % 10)
}

func digitsOnly(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isE164 reports whether s is "+" and 2 to 15 digits, the first not 0.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	return digitsOnly(s[1:]) == s[1:]
}

// CheckRegion is the one check of a home-region setting: an ISO 3166 code
// libphonenumber knows (it gives the country code of numbers typed without
// one).
func CheckRegion(region string) error {
	if len(region) != 2 || strings.ToUpper(region) != region || phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return fmt.Errorf("region %q: want a known 2-letter ISO 3166 code in capitals, e.g. CN", region)
	}
	return nil
}

// CheckInternationalPrefix is the one check of an international (exit)
// prefix: 1-4 digits, as 00 or 011; it goes into every dial string.
func CheckInternationalPrefix(p string) error {
	if p == "" || len(p) > 4 || digitsOnly(p) != p {
		return fmt.Errorf("international prefix %q: 1-4 digits, e.g. 00 or 011", p)
	}
	return nil
}

// CheckNumberPrefix is the one check of an E.164 prefix setting ("+852").
func CheckNumberPrefix(p string) error {
	if len(p) < 2 || len(p) > 16 || p[0] != '+' || digitsOnly(p[1:]) != p[1:] {
		return fmt.Errorf("number prefix %q: want '+' and digits, e.g. +852", p)
	}
	return nil
}
