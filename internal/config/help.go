package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// PrintHelp writes the command's flags, each with its real default and its
// environment variable (settings only; a command's own flags have none).
func (l *Loader) PrintHelp(w io.Writer) {
	fmt.Fprintf(w, "Settings (flag > WEBCALLBACK_* environment > --config file > default):\n")
	l.FS.VisitAll(func(f *flag.Flag) {
		typ, usage := typeName(f), f.Usage
		fmt.Fprintf(w, "  --%s", f.Name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n    \t%s\n    \t", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if l.secrets[f.Name] {
			fmt.Fprintf(w, "(secret: never printed)")
		} else if f.DefValue == "" {
			fmt.Fprintf(w, "(default: empty)")
		} else {
			fmt.Fprintf(w, "(default: %s)", f.DefValue)
		}
		switch {
		case l.names[f.Name]:
			fmt.Fprintf(w, "  env %s", EnvName(f.Name))
		case f.Name == "config":
			fmt.Fprintf(w, "  env WEBCALLBACK_CONFIG")
		}
		fmt.Fprintln(w)
	})
}

// typeName is the kind of value a flag takes, for the help.
func typeName(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	switch f.Value.(type) {
	case *durationValue:
		return "duration"
	case *onOffValue:
		return "on|off"
	case limitValue:
		return "N/window"
	case listValue, typesValue, *prefixesValue:
		return "list"
	}
	typ, _ := flag.UnquoteUsage(f) // the flag package's kinds: string, int, float
	return typ
}
