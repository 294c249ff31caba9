package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a 1-based line and column in a configuration file.
type Pos struct {
	Line, Col int
}

// decoder walks yaml.Node trees, collecting every problem with its position instead
// of stopping at the first. It records where each key was written so that later
// checks (Resolve) can point at it.
type decoder struct {
	file string
	errs ErrorList
	// warns are keys that are valid but have no effect in Atoll.
	warns ErrorList
	// keys maps a key path ("projects[0].workflow") to where its key was written.
	keys map[string]Pos
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, keys: map[string]Pos{}}
}

// fail records a problem at n's position.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// warn records, at n's position, a key that is valid but has no effect.
func (d *decoder) warn(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.warns = append(d.warns, e)
}

// failAt records a problem at a recorded position.
func (d *decoder) failAt(p Pos, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// parseDocument turns data into the document's root node; nil for an empty file.
func (d *decoder) parseDocument(data []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.errs = append(d.errs, yamlSyntaxError(d.file, err))
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	if err := checkAliases(d.file, &doc); err != nil {
		d.errs = append(d.errs, err)
		return nil
	}
	return doc.Content[0]
}

// maxAliasNodes caps how many nodes aliases (*name) may add to a document when they
// are expanded. Decoding into yaml.Node keeps aliases as pointers, so a "billion
// laughs" document costs nothing to parse, but every walk that follows aliases
// would pay for the expansion. 2^19 is about the most nodes a 1 MiB file
// (MaxRepoConfigSize) can hold written out in full ("[a,a,a,...": two bytes a
// node), so aliases can at most double the work the size limit already allows.
const maxAliasNodes = 1 << 19

// checkAliases refuses a document whose aliases expand it by more than
// maxAliasNodes nodes (an alias bomb), or in which an alias is used inside the
// value it names (a cycle, which yaml.v3 accepts when decoding into nodes). The
// work is linear in the size of the document: each anchored node is counted once.
func checkAliases(file string, doc *yaml.Node) *Error {
	a := aliasCounter{file: file, sizes: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	_, err := a.size(doc)
	return err
}

// aliasCounter computes the size of a node tree with its aliases expanded.
type aliasCounter struct {
	file string
	// sizes is the expanded size of each anchored node counted so far.
	sizes map[*yaml.Node]int
	// open holds the anchored nodes whose content is being counted.
	open map[*yaml.Node]bool
	// added is how many nodes the aliases met so far stand for.
	added int
}

// size returns how many nodes n stands for with its aliases expanded.
func (a *aliasCounter) size(n *yaml.Node) (int, *Error) {
	if n == nil {
		return 0, nil
	}
	if n.Kind == yaml.AliasNode {
		t := n.Alias
		if t == nil {
			return 1, nil
		}
		if a.open[t] {
			return 0, &Error{File: a.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("alias *%s is used inside the value it names", n.Value)}
		}
		s, ok := a.sizes[t]
		if !ok {
			var err *Error
			if s, err = a.size(t); err != nil {
				return 0, err
			}
		}
		a.added += s
		if a.added > maxAliasNodes {
			return 0, &Error{File: a.file, Line: n.Line, Col: n.Column,
				Msg: fmt.Sprintf("too many aliases: expanding them would add more than %d values to the document; write the repeated parts out instead", maxAliasNodes)}
		}
		return s, nil
	}
	if s, ok := a.sizes[n]; ok {
		return s, nil
	}
	if n.Anchor != "" {
		a.open[n] = true
		defer delete(a.open, n)
	}
	total := 1
	for _, c := range n.Content {
		s, err := a.size(c)
		if err != nil {
			return 0, err
		}
		total += s
	}
	if n.Anchor != "" {
		a.sizes[n] = total
	}
	return total, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError converts a yaml.v3 error ("yaml: line 3: did not find expected
// key") into an *Error at that line.
func yamlSyntaxError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// field is one key and its value in a mapping.
type field struct {
	key, val *yaml.Node
}

func child(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// mapping checks that n is a mapping and returns its entries by key, in the order
// written. It reports unknown keys (suggesting a close known one), duplicate keys
// and non-string keys. Merge keys (<<: *anchor) are expanded; explicit keys win.
// known nil accepts any key (for maps such as workflows). ok is false when n is
// not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, known []string) (fields map[string]field, order []string, ok bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of keys to values")
		return nil, nil, false
	}
	fields = map[string]field{}
	var merged []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.mergeSources(v, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be strings")
			continue
		}
		name := k.Value
		p := child(path, name)
		if _, dup := fields[name]; dup {
			d.fail(k, p, "key is set twice")
			continue
		}
		if known != nil && !contains(known, name) {
			d.fail(k, p, "unknown key%s", didYouMean(name, known))
			continue
		}
		fields[name] = field{key: k, val: v}
		order = append(order, name)
		d.keys[p] = Pos{k.Line, k.Column}
	}
	for _, f := range merged {
		name := f.key.Value
		if _, set := fields[name]; set {
			continue
		}
		if known != nil && !contains(known, name) {
			d.fail(f.key, child(path, name), "unknown key%s", didYouMean(name, known))
			continue
		}
		fields[name] = f
		order = append(order, name)
		d.keys[child(path, name)] = Pos{f.key.Line, f.key.Column}
	}
	return fields, order, true
}

// mergeSources returns the entries of a merge key's value: one mapping or a list
// of mappings, earlier ones winning.
func (d *decoder) mergeSources(v *yaml.Node, path string) []field {
	v = resolve(v)
	var srcs []*yaml.Node
	switch {
	case v != nil && v.Kind == yaml.MappingNode:
		srcs = []*yaml.Node{v}
	case v != nil && v.Kind == yaml.SequenceNode:
		for _, s := range v.Content {
			srcs = append(srcs, resolve(s))
		}
	}
	var out []field
	seen := map[string]bool{}
	for _, s := range srcs {
		if s == nil || s.Kind != yaml.MappingNode {
			d.fail(v, child(path, "<<"), "a merge key must refer to a mapping")
			return nil
		}
		for i := 0; i+1 < len(s.Content); i += 2 {
			k := s.Content[i]
			if k.Kind != yaml.ScalarNode || seen[k.Value] {
				continue
			}
			seen[k.Value] = true
			out = append(out, field{key: k, val: s.Content[i+1]})
		}
	}
	return out
}

// str decodes a string. Plain numbers are accepted as their text, as Atlantis does
// (terraform_version: 0.12). ok is false when the value is null or invalid.
func (d *decoder) str(v *yaml.Node, path string) (string, bool) {
	v = resolve(v)
	if isNull(v) {
		return "", false
	}
	if v.Kind == yaml.ScalarNode && (v.Tag == "!!str" || v.Tag == "!!int" || v.Tag == "!!float") {
		return v.Value, true
	}
	d.fail(v, path, "must be a string")
	return "", false
}

// optBool decodes the boolean at key among the fields of the mapping at path:
// nil when the key is not set, or is null or not a boolean (reported).
func (d *decoder) optBool(fields map[string]field, path, key string) *bool {
	if f, set := fields[key]; set {
		if b, ok := d.boolean(f.val, child(path, key)); ok {
			return &b
		}
	}
	return nil
}

// boolean decodes true/false (and the YAML 1.1 yes/no/on/off Atlantis accepted).
func (d *decoder) boolean(v *yaml.Node, path string) (bool, bool) {
	v = resolve(v)
	if isNull(v) {
		return false, false
	}
	if v.Kind == yaml.ScalarNode {
		switch strings.ToLower(v.Value) {
		case "true", "yes", "on":
			if v.Tag == "!!bool" || v.Tag == "!!str" {
				return true, true
			}
		case "false", "no", "off":
			if v.Tag == "!!bool" || v.Tag == "!!str" {
				return false, true
			}
		}
	}
	d.fail(v, path, "must be true or false")
	return false, false
}

// integer decodes an integer.
func (d *decoder) integer(v *yaml.Node, path string) (int, bool) {
	v = resolve(v)
	if isNull(v) {
		return 0, false
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!int" {
		var i int
		if err := v.Decode(&i); err == nil {
			return i, true
		}
	}
	d.fail(v, path, "must be an integer")
	return 0, false
}

// strList decodes a list of strings. An empty list gives a non-nil empty slice, so
// callers can tell "set to []" from "not set".
func (d *decoder) strList(v *yaml.Node, path string) ([]string, bool) {
	v = resolve(v)
	if isNull(v) {
		return nil, false
	}
	if v.Kind != yaml.SequenceNode {
		d.fail(v, path, "must be a list of strings")
		return nil, false
	}
	out := []string{}
	ok := true
	for i, e := range v.Content {
		s, good := d.str(e, index(path, i))
		if !good {
			if isNull(e) {
				d.fail(resolve(e), index(path, i), "must be a string")
			}
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

// shellArgs decodes shell_args: a string split on spaces, or a list of strings.
func (d *decoder) shellArgs(v *yaml.Node, path string) ([]string, bool) {
	v = resolve(v)
	if v != nil && v.Kind == yaml.SequenceNode {
		return d.strList(v, path)
	}
	s, ok := d.str(v, path)
	if !ok {
		return nil, false
	}
	return strings.Fields(s), true
}

// enum decodes a string that must be one of allowed.
func (d *decoder) enum(v *yaml.Node, path string, allowed []string) (string, bool) {
	s, ok := d.str(v, path)
	if !ok {
		return "", false
	}
	if !contains(allowed, s) {
		d.fail(resolve(v), path, "%q is not one of %s%s", s, quoteList(allowed), didYouMean(s, allowed))
		return "", false
	}
	return s, true
}

// enumList decodes a list of strings each of which must be one of allowed.
func (d *decoder) enumList(v *yaml.Node, path string, allowed []string) ([]string, bool) {
	list, ok := d.strList(v, path)
	if list == nil {
		return nil, false
	}
	out := []string{}
	seq := resolve(v)
	for i, s := range list {
		if !contains(allowed, s) {
			d.fail(resolve(seq.Content[i]), index(path, i), "%q is not one of %s%s", s, quoteList(allowed), didYouMean(s, allowed))
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

// regex decodes a regular expression written bare or between slashes (/main/) and
// checks that it compiles. It returns the expression without the slashes.
func (d *decoder) regex(v *yaml.Node, path string) (string, bool) {
	s, ok := d.str(v, path)
	if !ok {
		return "", false
	}
	expr := stripSlashes(s)
	if _, err := regexp.Compile(expr); err != nil {
		d.fail(resolve(v), path, "invalid regular expression %q: %s", s, regexpReason(err))
		return "", false
	}
	return expr, true
}

func stripSlashes(s string) string {
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		return s[1 : len(s)-1]
	}
	return s
}

// regexpReason strips Go's "error parsing regexp: " prefix.
func regexpReason(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quoteList renders ["a","b"] as `"a", "b"`.
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
