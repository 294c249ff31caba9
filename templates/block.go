package templates

import (
	"regexp"
	"strings"
)

// blockKind says what kind of Markdown block is open.
type blockKind int

const (
	blockFence blockKind = iota
	blockDetails
)

// block is an open fenced code block or <details> element.
type block struct {
	kind blockKind
	// marker is the fence's opening run ("```", "````", "~~~"), for fences.
	marker string
	// info is the fence's info string ("diff"), for fences.
	info string
	// summary is the <summary> text (HTML, as written), for details.
	summary string
}

// blocks tracks which fences and <details> elements are open while a Markdown
// document is read line by line. It understands what Atoll's templates write:
// fences of three or more backticks or tildes indented at most three spaces, and
// <details> elements whose opening tag starts a line (with the <summary> on the
// same line) and whose closing tag is a line of its own.
type blocks struct {
	// stack holds the open blocks, outermost first.
	stack []block
}

var summaryRE = regexp.MustCompile(`(?i)<summary>(.*?)</summary>`)

// clone returns an independent copy.
func (b blocks) clone() blocks {
	return blocks{stack: append([]block(nil), b.stack...)}
}

// inFence reports whether the innermost open block is a code fence.
func (b blocks) inFence() bool {
	return len(b.stack) > 0 && b.stack[len(b.stack)-1].kind == blockFence
}

// feed reads one line (with or without its newline) and updates the open blocks.
func (b *blocks) feed(line string) {
	line = strings.TrimRight(line, "\r\n")
	if b.inFence() {
		if closesFence(line, b.stack[len(b.stack)-1].marker) {
			b.stack = b.stack[:len(b.stack)-1]
		}
		return
	}
	if marker, info, ok := opensFence(line); ok {
		b.push(block{kind: blockFence, marker: marker, info: info})
		return
	}
	t := strings.TrimSpace(line)
	lower := strings.ToLower(t)
	switch {
	case strings.HasPrefix(lower, "<details") && !strings.Contains(lower, "</details>"):
		s := ""
		if m := summaryRE.FindStringSubmatch(t); m != nil {
			s = m[1]
		}
		b.push(block{kind: blockDetails, summary: s})
	case strings.HasPrefix(lower, "</details>"):
		if n := len(b.stack); n > 0 && b.stack[n-1].kind == blockDetails {
			b.stack = b.stack[:n-1]
		}
	}
}

// push opens o. It always copies the stack, so earlier copies of it (kept as a
// part's open blocks) never change.
func (b *blocks) push(o block) {
	n := len(b.stack)
	b.stack = append(b.stack[:n:n], o)
}

// opensFence reports whether line opens a fenced code block and returns its
// marker and info string.
func opensFence(line string) (marker, info string, ok bool) {
	rest, ok := trimIndent(line)
	if !ok || len(rest) < 3 || (rest[0] != '`' && rest[0] != '~') {
		return "", "", false
	}
	c := rest[0]
	n := 0
	for n < len(rest) && rest[n] == c {
		n++
	}
	if n < 3 {
		return "", "", false
	}
	info = strings.TrimSpace(rest[n:])
	if c == '`' && strings.Contains(info, "`") {
		return "", "", false
	}
	return rest[:n], info, true
}

// closesFence reports whether line closes a fence opened with marker.
func closesFence(line, marker string) bool {
	rest, ok := trimIndent(line)
	if !ok || marker == "" {
		return false
	}
	c := marker[0]
	n := 0
	for n < len(rest) && rest[n] == c {
		n++
	}
	return n >= len(marker) && strings.TrimSpace(rest[n:]) == ""
}

// trimIndent strips up to three leading spaces; ok is false for deeper indents.
func trimIndent(line string) (string, bool) {
	i := 0
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i > 3 {
		return "", false
	}
	return line[i:], true
}

// longestRun returns the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			longest = max(longest, cur)
		} else {
			cur = 0
		}
	}
	return longest
}
