package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file, with its position and the path of
// the key it concerns. Its text is safe to show on a pull request.
type Error struct {
	// File is the file's name as the user knows it, for example "atoll.yaml".
	File string
	// Line and Col are 1-based; 0 when unknown.
	Line, Col int
	// Path is the key's path, for example "projects[1].workspace"; "" for the file.
	Path string
	// Msg says what is wrong, for example "must be a string".
	Msg string
}

// Error returns "file:line:col: path: msg", leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is several configuration problems, sorted by file and position.
type ErrorList []*Error

// Error returns each problem on its own line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.As finds an *Error.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// sort orders the list by file, line, column, path and message.
func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
}

// err returns nil for an empty list, the single *Error for one problem, and the
// sorted list otherwise.
func (l ErrorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	l.sort()
	return l
}

// Errors returns the individual problems in err: the *Error values of an ErrorList
// or a single *Error, or nil when err holds none.
func Errors(err error) []*Error {
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

// didYouMean returns ` (did you mean "x"?)` for the closest of known to got, or ""
// when none is close enough.
func didYouMean(got string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		d := levenshtein(got, k)
		if d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	limit := 2
	if len(got) > 8 {
		limit = 3
	}
	if best == "" || bestD > limit {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
