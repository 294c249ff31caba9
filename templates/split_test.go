package templates

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// addedLineRE matches every line Split may add to a part: part markers, blank
// lines, fence reopenings and closings, and <details> reopenings and closings.
var addedLineRE = regexp.MustCompile("^(|_Part \\d+ of \\d+_|_Part 1 of \\d+ · continued in the next comment_|_Continued in the next comment_|(`{3,}|~{3,})[^`]*|<details><summary>.* \\(continued\\)</summary>|</details>)$")

// randomBody builds a Markdown body like Atoll's comments: paragraphs, tables,
// <details> sections, fences (some nested in details, some with long fences or
// tildes), blank lines, long lines and multi-byte characters.
func randomBody(r *rand.Rand) string {
	words := []string{"plan", "apply", "terraform_data.web", "`code`", "ünïcödé", "→", "日本語", "|", "<b>", "-", "+", "~", "#"}
	line := func(max int) string {
		n := r.IntN(max) + 1
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.String()
	}
	var b strings.Builder
	b.WriteString("### Plan for `network` · workspace `default` — 1 to add\n\n")
	sections := r.IntN(12) + 1
	for s := 0; s < sections; s++ {
		switch r.IntN(6) {
		case 0:
			b.WriteString(line(30) + "\n\n")
		case 1:
			b.WriteString("| | resource |\n|---|---|\n")
			for i := r.IntN(20); i >= 0; i-- {
				b.WriteString("| + create | `" + line(3) + "` |\n")
			}
			b.WriteString("\n")
		case 2, 3:
			summary := line(8)
			b.WriteString("<details><summary>" + summary + "</summary>\n\n")
			if r.IntN(3) > 0 {
				fence := []string{"```", "````", "~~~"}[r.IntN(3)]
				b.WriteString(fence + []string{"diff", "", "hcl"}[r.IntN(3)] + "\n")
				for i := r.IntN(80); i >= 0; i-- {
					if r.IntN(10) == 0 {
						b.WriteString("\n")
						continue
					}
					b.WriteString(line(15) + "\n")
				}
				if fence == "````" && r.IntN(2) == 0 {
					b.WriteString("```\n") // a shorter fence inside does not close it
				}
				b.WriteString(fence + "\n")
			} else {
				for i := r.IntN(10); i >= 0; i-- {
					b.WriteString(line(20) + "\n\n")
				}
			}
			b.WriteString("</details>\n\n")
		case 4:
			b.WriteString("```\n")
			for i := r.IntN(40); i >= 0; i-- {
				b.WriteString(line(10) + "\n")
			}
			b.WriteString("```\n\n")
		case 5:
			b.WriteString(strings.Repeat(line(5)+" ", r.IntN(400)) + "\n\n") // a very long line
		}
	}
	b.WriteString("Apply: `atoll apply -d network` · Discard and unlock: `atoll unlock`")
	if r.IntN(2) == 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// checkParts asserts Split's promises for body at limit (raised to MinSplitLimit
// when smaller, as Split documents).
func checkParts(t *testing.T, body string, limit int) {
	t.Helper()
	got := Split(body, limit)
	if len(body) <= limit {
		if len(got) != 1 || got[0] != body {
			t.Fatalf("a body that fits was changed: %q", got)
		}
		return
	}
	if len(got) < 2 {
		t.Fatalf("a %d-byte body at limit %d came back as %d part(s)", len(body), limit, len(got))
	}
	// Split's rendering is a pure function of the structured parts: check that,
	// then check the structure.
	parts := splitParts(body, max(limit, MinSplitLimit), len(fmt.Sprint(len(got))))
	if len(parts) != len(got) {
		t.Fatalf("splitParts gives %d parts, Split %d", len(parts), len(got))
	}
	var joined strings.Builder
	for i, p := range parts {
		k, n := i+1, len(parts)
		rendered := p.render(k, n)
		if rendered != got[i] {
			t.Fatalf("part %d renders differently from Split's", k)
		}
		if len(rendered) > max(limit, MinSplitLimit) {
			t.Errorf("part %d of %d is %d bytes, over the limit %d", k, n, len(rendered), limit)
		}
		if !utf8.ValidString(rendered) && utf8.ValidString(body) {
			t.Errorf("part %d cuts a character in two", k)
		}
		if p.content == "" {
			t.Errorf("part %d carries no text", k)
		}
		joined.WriteString(p.content)

		// Everything around the content is only lines Split adds.
		prefix := partPrefix(k, n, p.reopen)
		if !strings.HasPrefix(rendered, prefix+p.content) {
			t.Fatalf("part %d is not its prefix and content followed by a suffix", k)
		}
		suffix := rendered[len(prefix)+len(p.content):]
		for _, l := range strings.Split(strings.TrimSuffix(prefix, "\n"), "\n") {
			if !addedLineRE.MatchString(l) {
				t.Errorf("part %d starts with an unexpected line %q", k, l)
			}
		}
		for _, l := range strings.Split(suffix, "\n") {
			if !addedLineRE.MatchString(l) {
				t.Errorf("part %d ends with an unexpected line %q", k, l)
			}
		}
		if k == 1 && (prefix != "" || !strings.Contains(suffix, fmt.Sprintf("_Part 1 of %d · continued in the next comment_", n))) {
			t.Errorf("part 1 does not start with the body and end with its marker: %q … %q", prefix, suffix)
		}
		if k > 1 && !strings.HasPrefix(rendered, fmt.Sprintf("_Part %d of %d_\n\n", k, n)) {
			t.Errorf("part %d does not start with its marker: %q", k, prefix)
		}
		// Every block the part opens or reopens is closed by its end.
		if k < n {
			var st blocks
			for _, l := range strings.Split(rendered, "\n") {
				st.feed(l)
			}
			if len(st.stack) != 0 {
				t.Errorf("part %d of %d leaves blocks open: %+v", k, n, st.stack)
			}
		}
	}
	if joined.String() != body {
		t.Fatalf("the parts' text does not add up to the body")
	}
}

func TestSplitProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	split, parts := 0, 0
	for i := 0; i < 400; i++ {
		body := randomBody(r)
		limit := MinSplitLimit + r.IntN(4000)
		if len(body) > limit {
			split++
			parts += len(Split(body, limit))
		}
		t.Run(fmt.Sprintf("%d_limit_%d", i, limit), func(t *testing.T) {
			checkParts(t, body, limit)
		})
	}
	// The random bodies must mostly need splitting, or the test proves little.
	if split < 200 || parts < 3*split {
		t.Errorf("only %d of 400 random bodies were split, into %d parts in all", split, parts)
	}
	t.Logf("%d of 400 random bodies split into %d parts", split, parts)
}

func TestSplitCases(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("日本語のテキスト ", 2000)
	tests := []struct {
		name  string
		body  string
		limit int
	}{
		{"fits", "short body\n", 100},
		{"exactly the limit", strings.Repeat("a", 600), 600},
		{"one long multibyte line", long, 1000},
		{"long line in a fence", "intro\n\n```diff\n+ " + long + "\n```\n", 1200},
		{"many short lines", strings.Repeat("line\n", 2000), 700},
		{"no trailing newline", strings.Repeat("x", 5000), 800},
		{"unclosed fence", "head\n```\n" + strings.Repeat("code line\n", 300), 900},
		{"nested details", "head\n\n<details><summary>outer</summary>\n\n<details><summary>inner</summary>\n\n```\n" + strings.Repeat("nested code\n", 400) + "```\n</details>\n</details>\n\ntail\n", 800},
		{"limit below minimum", strings.Repeat("word ", 1000), 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkParts(t, tc.body, tc.limit)
		})
	}
}

func TestSplitReopensBlocks(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("### Plan for `network`\n\n<details><summary>Plan output</summary>\n\n````diff\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "+ resource %d\n", i)
	}
	b.WriteString("````\n</details>\n\nApply: `atoll apply`\n")
	parts := Split(b.String(), 1000)
	if len(parts) < 3 {
		t.Fatalf("got %d parts, want at least 3", len(parts))
	}
	if !strings.HasSuffix(parts[0], "````\n</details>\n\n_Part 1 of "+fmt.Sprint(len(parts))+" · continued in the next comment_\n") {
		t.Errorf("part 1 does not close its blocks:\n%s", parts[0])
	}
	want := fmt.Sprintf("_Part 2 of %d_\n\n<details><summary>Plan output (continued)</summary>\n\n````diff\n+ resource ", len(parts))
	if !strings.HasPrefix(parts[1], want) {
		t.Errorf("part 2 does not reopen the blocks; starts with:\n%s", parts[1][:min(len(parts[1]), 200)])
	}
	if !strings.HasSuffix(parts[len(parts)-1], "</details>\n\nApply: `atoll apply`\n") {
		t.Errorf("last part does not end the body:\n%s", parts[len(parts)-1])
	}
}

func TestSplitAtCommentLimit(t *testing.T) {
	t.Parallel()
	ps := make([]Project, 8)
	for i := range ps {
		ps[i] = Project{Name: fmt.Sprintf("net%d", i), Dir: fmt.Sprintf("net%d", i), Status: StatusPlanned,
			Counts: Counts{Add: 40}, Output: tfOut(t, "plan_large.txt")}
	}
	body, err := Plan(Comment{Projects: ps, JobURL: jobURL})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 65536 // vcs.MaxCommentLen
	if len(body) <= limit {
		t.Fatalf("body is only %d bytes; the test needs one over %d", len(body), limit)
	}
	checkParts(t, body, limit)
	parts := Split(body, limit)
	summary := body[:strings.Index(body, "<details>")]
	if !strings.HasPrefix(parts[0], summary) {
		t.Error("part 1 does not keep the whole summary table")
	}
}
