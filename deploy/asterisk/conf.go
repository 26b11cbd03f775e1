package asterisk

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Limits of ParseConf: Asterisk's own files are a few kB; anything much
// bigger is not a configuration file.
const (
	MaxConfSize = 4 << 20 // bytes
	MaxConfLine = 8 << 10 // bytes per line
)

// Conf is a parsed Asterisk .conf file: its sections in file order. Section
// names may repeat (pjsip.conf has an endpoint and an aor of one name).
type Conf struct {
	Sections []*Section
}

// Section is one "[name]" or "[name](options)" block.
type Section struct {
	Name string
	// Template is set for "[name](!)": a template, not an object itself.
	Template bool
	// Inherits names the templates of "[name](tmpl1,tmpl2)".
	Inherits []string
	// Append is set for "[name](+)": adds to an earlier section of that name.
	Append  bool
	Entries []Entry
	Line    int
}

// Entry is one "key = value" or "key => value" line, or a "#include" /
// "#exec" directive (Key "#include", Value its argument).
type Entry struct {
	Key, Value string
	Arrow      bool // written "=>" (objects in extensions.conf)
	Line       int
}

// Get returns the value of the first entry named key (case-insensitive, as
// Asterisk compares option names) and whether there is one.
func (s *Section) Get(key string) (string, bool) {
	for _, e := range s.Entries {
		if strings.EqualFold(e.Key, key) {
			return e.Value, true
		}
	}
	return "", false
}

// All returns the values of every entry named key, in order.
func (s *Section) All(key string) []string {
	var v []string
	for _, e := range s.Entries {
		if strings.EqualFold(e.Key, key) {
			v = append(v, e.Value)
		}
	}
	return v
}

// Section returns the first section called name, or nil.
func (c *Conf) Section(name string) *Section {
	for _, s := range c.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SectionsNamed returns every section called name, in file order.
func (c *Conf) SectionsNamed(name string) []*Section {
	var r []*Section
	for _, s := range c.Sections {
		if s.Name == name {
			r = append(r, s)
		}
	}
	return r
}

// ConfError is a syntax error at a line of the input.
type ConfError struct {
	Line int
	Msg  string
}

func (e *ConfError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ParseConf parses Asterisk's configuration syntax as config.c reads it:
// "[section]" headers with "(!)", "(tmpl,...)" and "(+)" options, "key =
// value" and "key => value" lines (values trimmed), ";" comments to the end
// of the line unless escaped "\;" (then a literal ';'), ";-- ... --;" block
// comments (which may span lines), and "#include"/"#exec" directives.
// Entries before the first section are an error, as in Asterisk.
func ParseConf(data []byte) (*Conf, error) {
	if len(data) > MaxConfSize {
		return nil, fmt.Errorf("config: %d bytes, more than %d", len(data), MaxConfSize)
	}
	c := &Conf{}
	var cur *Section
	inBlock := false // inside ;-- ... --;
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		if len(raw) > MaxConfLine {
			return nil, &ConfError{lineNo, fmt.Sprintf("line longer than %d bytes", MaxConfLine)}
		}
		line, stillBlock, err := stripComments(string(raw), inBlock)
		if err != nil {
			return nil, &ConfError{lineNo, err.Error()}
		}
		inBlock = stillBlock
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		switch {
		case line[0] == '[':
			s, err := parseSectionHeader(line)
			if err != nil {
				return nil, &ConfError{lineNo, err.Error()}
			}
			s.Line = lineNo
			c.Sections = append(c.Sections, s)
			cur = s
		case line[0] == '#':
			e, err := parseDirective(line)
			if err != nil {
				return nil, &ConfError{lineNo, err.Error()}
			}
			e.Line = lineNo
			if cur == nil {
				// Directives may precede every section; keep them in an
				// unnamed pseudo-section so nothing is lost.
				cur = &Section{Line: lineNo}
				c.Sections = append(c.Sections, cur)
			}
			cur.Entries = append(cur.Entries, e)
		default:
			if cur == nil {
				return nil, &ConfError{lineNo, fmt.Sprintf("%q outside of any [section]", clip(line))}
			}
			e, err := parseEntry(line)
			if err != nil {
				return nil, &ConfError{lineNo, err.Error()}
			}
			e.Line = lineNo
			cur.Entries = append(cur.Entries, e)
		}
	}
	if inBlock {
		return nil, &ConfError{lineNo, "block comment ;-- not closed by --;"}
	}
	return c, nil
}

// stripComments removes comments from one line and turns "\;" into ';'.
// inBlock says whether the line starts inside a ;-- --; block; the result
// says whether the next one does.
func stripComments(line string, inBlock bool) (string, bool, error) {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		if inBlock {
			if strings.HasPrefix(line[i:], "--;") {
				inBlock = false
				i += 2
			}
			continue
		}
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == ';':
			b.WriteByte(';')
			i++
		case strings.HasPrefix(line[i:], ";--"):
			inBlock = true
			i += 2
		case line[i] == ';':
			return b.String(), false, nil
		case line[i] == 0:
			return "", false, errors.New("NUL byte")
		default:
			b.WriteByte(line[i])
		}
	}
	return b.String(), inBlock, nil
}

func parseSectionHeader(line string) (*Section, error) {
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return nil, fmt.Errorf("section header %q has no ']'", clip(line))
	}
	s := &Section{Name: strings.TrimSpace(line[1:end])}
	if s.Name == "" {
		return nil, errors.New("empty section name")
	}
	rest := strings.TrimSpace(line[end+1:])
	if rest == "" {
		return s, nil
	}
	if rest[0] != '(' || rest[len(rest)-1] != ')' {
		return nil, fmt.Errorf("after [%s]: want (options), got %q", clip(s.Name), clip(rest))
	}
	for _, opt := range strings.Split(rest[1:len(rest)-1], ",") {
		switch opt = strings.TrimSpace(opt); opt {
		case "!":
			s.Template = true
		case "+":
			s.Append = true
		case "":
			return nil, fmt.Errorf("[%s]: empty option in %q", clip(s.Name), clip(rest))
		default:
			s.Inherits = append(s.Inherits, opt)
		}
	}
	return s, nil
}

func parseDirective(line string) (Entry, error) {
	name, arg, _ := strings.Cut(line, " ")
	switch name {
	case "#include", "#tryinclude", "#exec", "#tryexec":
	default:
		return Entry{}, fmt.Errorf("unknown directive %q", clip(name))
	}
	arg = strings.Trim(strings.TrimSpace(arg), `"<>`)
	if arg == "" {
		return Entry{}, fmt.Errorf("%s needs a file name", name)
	}
	return Entry{Key: name, Value: arg}, nil
}

func parseEntry(line string) (Entry, error) {
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		return Entry{}, fmt.Errorf("%q is neither [section] nor key = value", clip(line))
	}
	e := Entry{Key: strings.TrimSpace(line[:eq])}
	val := line[eq+1:]
	if strings.HasPrefix(val, ">") {
		e.Arrow = true
		val = val[1:]
	}
	e.Value = strings.TrimSpace(val)
	if e.Key == "" {
		return Entry{}, fmt.Errorf("%q has no key before '='", clip(line))
	}
	return e, nil
}

// clip shortens hostile input quoted in an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
