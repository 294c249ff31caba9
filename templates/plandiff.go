package templates

import (
	"regexp"
	"strings"
)

// ansiRE matches terminal escape sequences (colours, cursor moves).
var ansiRE = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// cleanOutput makes command output fit for a comment: no colour codes, Unix line
// ends, no leading or trailing blank lines.
func cleanOutput(s string) string {
	s = ansiRE.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// PlanDiff turns Terraform's human plan text into the body of a ```diff block, so
// that GitHub colours additions and removals. Every non-empty output line starts
// with '+', '-', '~' or a space:
//   - a line whose action marker Terraform indents ("  + resource", "      ~ size")
//     gets the marker in column 0 and the text two columns left, which keeps the
//     alignment of nested blocks: "+ resource", "~     size";
//   - replacements ("-/+ resource", "+/- resource") already start in column 0 and are
//     kept: a replacement destroys, and reads as a removal;
//   - any other line indented three or more spaces moves two columns left like the
//     marked lines ("    }" under "+ resource" becomes "  }"); a line indented one
//     or two spaces ("  # terraform_data.web will be created") is kept; a line
//     starting in column 0 gets a leading space.
//
// Colour codes are removed and line ends normalised first.
func PlanDiff(showText string) string {
	text := cleanOutput(showText)
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = diffLine(strings.TrimRight(l, " \t"))
	}
	return strings.Join(lines, "\n")
}

// diffLine rewrites one plan line (see PlanDiff).
func diffLine(l string) string {
	if strings.HasPrefix(l, "-/+ ") || strings.HasPrefix(l, "+/- ") || l == "-/+" || l == "+/-" {
		return l
	}
	indent := len(l) - len(strings.TrimLeft(l, " "))
	rest := l[indent:]
	if indent >= 2 && len(rest) >= 1 && strings.ContainsRune("+-~", rune(rest[0])) && (len(rest) == 1 || rest[1] == ' ') {
		// "<indent><marker> text" → "<marker><indent-1 spaces> text".
		return rest[:1] + strings.Repeat(" ", indent-2) + rest[1:]
	}
	if l == "" {
		return ""
	}
	switch {
	case indent >= 3:
		return l[2:]
	case indent > 0:
		return l
	default:
		return " " + l
	}
}
