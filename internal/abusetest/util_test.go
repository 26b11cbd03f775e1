package abusetest

import (
	"io"
	"strings"
)

func bytesReader(s string) io.Reader { return strings.NewReader(s) }

func splitComma(s string) []string { return strings.Split(s, ",") }
