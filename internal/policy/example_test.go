package policy_test

import (
	"errors"
	"fmt"

	"webcallback/internal/policy"
)

// ParseNumber reads a number as a person types it and returns the form the
// service stores (E164) and the digits the trunk dials (Dial): the national
// form at home, the international prefix and country code abroad. Anything
// that is not a valid number, such as an attempt to smuggle an AMI header
// in, is an error wrapping ErrInvalidNumber.
func ExampleParseNumber() {
	for _, typed := range []string{"138-0000-1001", "+86 10 1234 5678", "+44 20 7946 0018", "１３８ ００００ １００１"} {
		n, err := policy.ParseNumber(typed, "CN", "00")
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s → %s %s %s, dial %s\n", typed, n.E164, n.Region, n.Type, n.Dial)
	}
	n, _ := policy.ParseNumber("+1 212 555 0123", "US", "011")
	fmt.Println("from the US:", n.Dial, "then abroad:", mustDial("+86 138 0000 1001", "US", "011"))

	_, err := policy.ParseNumber("13800001001\r\nAction: Originate", "CN", "00")
	fmt.Println(errors.Is(err, policy.ErrInvalidNumber))
	// Output:
	// 138-0000-1001 → +8613800001001 CN mobile, dial 13800001001
	// +86 10 1234 5678 → +861012345678 CN fixed_line, dial 01012345678
	// +44 20 7946 0018 → +442079460018 GB fixed_line, dial 00442079460018
	// １３８ ００００ １００１ → +8613800001001 CN mobile, dial 13800001001
	// from the US: 2125550123 then abroad: 0118613800001001
	// true
}

func mustDial(typed, region, intlPrefix string) string {
	n, err := policy.ParseNumber(typed, region, intlPrefix)
	if err != nil {
		panic(err)
	}
	return n.Dial
}
