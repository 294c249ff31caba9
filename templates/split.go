package templates

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinSplitLimit is the smallest limit Split honours; smaller limits are raised to it
// so that every part has room for its "Part 2 of 3" line and reopened blocks.
const MinSplitLimit = 500

// maxReopenSummary caps, in bytes, the summary repeated when a <details> block is
// reopened in the next part (the original summary is never changed).
const maxReopenSummary = 200

// Split cuts a comment body into parts of at most limit bytes each (GitHub counts
// characters; bytes are never fewer, so this is safe). A body that fits is returned
// unchanged as the only part. Otherwise, in order:
//   - no text is lost: the parts' original text, concatenated, is exactly body;
//   - part 1 starts with body's beginning (the summary) and ends with
//     "_Part 1 of N · continued in the next comment_"; every later part starts with
//     "_Part K of N_" and every part but the last ends with a continuation line;
//   - a cut inside a fenced code block or a <details> element closes them at the end
//     of the part and reopens them (same fence and info string; same summary plus
//     " (continued)") at the start of the next;
//   - cuts fall at line ends, preferably at a blank line or inside a code block;
//     a line longer than a part is cut at a UTF-8 character boundary.
func Split(body string, limit int) []string {
	if len(body) <= limit {
		return []string{body}
	}
	limit = max(limit, MinSplitLimit)
	var parts []splitPart
	for digits := 1; ; digits++ {
		parts = splitParts(body, limit, digits)
		if len(fmt.Sprint(len(parts))) <= digits {
			break
		}
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.render(i+1, len(parts))
	}
	return out
}

// splitPart is one part of a split body before rendering.
type splitPart struct {
	// reopen are the blocks open where the part starts, outermost first.
	reopen []block
	// content is the part's slice of the original body.
	content string
	// close are the blocks open where the part ends, outermost first.
	close []block
}

// render returns part k of n as posted.
func (p splitPart) render(k, n int) string {
	var b strings.Builder
	b.WriteString(partPrefix(k, n, p.reopen))
	b.WriteString(p.content)
	if k < n {
		b.WriteString(partSuffix(k, n, p.close, strings.HasSuffix(p.content, "\n")))
	}
	return b.String()
}

// partPrefix is what part k of n starts with: its marker and reopened blocks.
func partPrefix(k, n int, open []block) string {
	if k == 1 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "_Part %d of %d_\n\n", k, n)
	for _, o := range open {
		switch o.kind {
		case blockDetails:
			s := o.summary
			if len(s) > maxReopenSummary {
				s = truncateUTF8(s, maxReopenSummary) + "…"
			}
			if s == "" {
				s = "Details"
			}
			b.WriteString("<details><summary>" + s + " (continued)</summary>\n\n")
		case blockFence:
			b.WriteString(o.marker + o.info + "\n")
		}
	}
	return b.String()
}

// partSuffix is what part k of n (k < n) ends with: closers for the open blocks
// and the continuation line. endsNL says whether the content ends with a newline.
func partSuffix(k, n int, open []block, endsNL bool) string {
	var b strings.Builder
	if !endsNL {
		b.WriteString("\n")
	}
	for i := len(open) - 1; i >= 0; i-- {
		switch open[i].kind {
		case blockFence:
			b.WriteString(open[i].marker + "\n")
		case blockDetails:
			b.WriteString("</details>\n")
		}
	}
	if k == 1 {
		fmt.Fprintf(&b, "\n_Part 1 of %d · continued in the next comment_\n", n)
	} else {
		b.WriteString("\n_Continued in the next comment_\n")
	}
	return b.String()
}

// splitParts cuts body greedily into parts of at most limit bytes, sizing the part
// markers for a part count of the given number of digits.
func splitParts(body string, limit, digits int) []splitPart {
	n := 1
	for range digits {
		n *= 10
	}
	n-- // the widest count with that many digits: marker sizes are upper bounds
	var (
		parts []splitPart
		state blocks // blocks open at pos
		pos   int    // start of the unsplit rest
		// lineStart is the start of the line containing pos (pos may be mid-line
		// after a hard cut); the scanner is fed whole lines only.
		lineStart int
	)
	for pos < len(body) {
		k := len(parts) + 1
		prefix := len(partPrefix(k, n, state.stack))
		if k > 1 && prefix+len(body)-pos <= limit {
			parts = append(parts, splitPart{reopen: state.stack, content: body[pos:]})
			break
		}
		reopen := state.stack
		cur := state.clone()
		end, ls := pos, lineStart
		best, bestState, bestLS := -1, blocks{}, 0
		// Nicer cut points: after a blank line or a closed block (para), else
		// inside a code block (code), where reopening the fence loses nothing.
		para, paraState, paraLS := -1, blocks{}, 0
		code, codeState, codeLS := -1, blocks{}, 0
		for end < len(body) {
			nl := strings.IndexByte(body[end:], '\n')
			lineEnd := len(body)
			if nl >= 0 {
				lineEnd = end + nl + 1
			}
			next := cur.clone()
			next.feed(body[ls:lineEnd])
			closed := len(next.stack) < len(cur.stack)
			fits := prefix+(lineEnd-pos)+len(partSuffix(k, n, next.stack, strings.HasSuffix(body[:lineEnd], "\n"))) <= limit
			if !fits {
				break
			}
			line := strings.TrimSpace(body[ls:lineEnd])
			end, ls, cur = lineEnd, lineEnd, next
			best, bestState, bestLS = end, cur, ls
			switch {
			case line == "" || closed:
				para, paraState, paraLS = end, cur, ls
			case cur.inFence():
				code, codeState, codeLS = end, cur, ls
			}
		}
		switch {
		case best >= 0 && best == len(body):
			// The rest fits in this part without a suffix; it is the last part.
			parts = append(parts, splitPart{reopen: reopen, content: body[pos:]})
			return parts
		case best >= 0:
			switch {
			case para > pos && (para-pos)*2 >= best-pos:
				best, bestState, bestLS = para, paraState, paraLS
			case code > pos && (code-pos)*2 >= best-pos:
				best, bestState, bestLS = code, codeState, codeLS
			}
			parts = append(parts, splitPart{reopen: reopen, content: body[pos:best], close: bestState.stack})
			pos, lineStart, state = best, bestLS, bestState
		default:
			// Not even the rest of the current line fits: cut it.
			suffix := len(partSuffix(k, n, state.stack, false))
			room := limit - prefix - suffix
			if room < 1 {
				// Pathological nesting: drop the reopened blocks for this part.
				reopen = nil
				room = limit - len(partPrefix(k, n, nil)) - len(partSuffix(k, n, nil, false))
			}
			lineEnd := len(body)
			if nl := strings.IndexByte(body[pos:], '\n'); nl >= 0 {
				lineEnd = pos + nl + 1
			}
			cut := min(pos+room, lineEnd)
			if cut == lineEnd && cut-pos > 1 {
				cut-- // leave the line's end for the next part, which feeds the scanner
			}
			for cut > pos && cut < len(body) && !utf8.RuneStart(body[cut]) {
				cut--
			}
			if cut == pos {
				cut = min(pos+room, lineEnd) // no character boundary in reach
			}
			closing := state.stack
			if reopen == nil {
				closing = nil
			}
			parts = append(parts, splitPart{reopen: reopen, content: body[pos:cut], close: closing})
			if cut == lineEnd {
				state.feed(body[lineStart:lineEnd])
				lineStart = lineEnd
			}
			pos = cut
		}
	}
	return parts
}

// truncateUTF8 returns at most n bytes of s, cut at a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
