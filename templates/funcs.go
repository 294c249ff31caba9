package templates

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// tailLines is how many lines of a failed step's output are quoted in the comment.
const tailLines = 20

// funcs are the helpers the templates call. They return plain text or single
// inline Markdown elements; the layout stays in the .tmpl files.
var funcs = template.FuncMap{
	"code":         codeSpan,
	"cell":         tableCell,
	"ago":          Ago,
	"plandiff":     PlanDiff,
	"clean":        cleanOutput,
	"fence":        fenceFor,
	"tail":         tail,
	"lineCount":    lineCount,
	"tailLines":    func() int { return tailLines },
	"planSummary":  planSummary,
	"applySummary": applySummary,
	"symbol":       actionSymbol,
	"destroyed":    destroyed,
	"unmet":        unmet,
	"sameSource":   sameSource,
	"plural":       plural,
	"utc":          func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"tally":        tally,
	"isRun":        isRunStep,
	"view":         func(c Comment, p Project) projectView { return projectView{C: c, P: p} },
	"last":         func(i, n int) bool { return i == n-1 },
	"hasStatus":    hasStatus,
	"anyQueued":    anyQueued,
	"withStatus":   withStatus,
	"join":         func(lines []string) string { return strings.Join(lines, "\n") },
	"total":        func(c Comment) int { return len(c.Projects) + len(c.Running) },
	"seconds":      seconds,
	"short":        shortSHA,
}

// projectView is what per-project templates receive: the project and its comment.
type projectView struct {
	C Comment
	P Project
}

// codeSpan returns s as an inline code span, with a delimiter longer than any run
// of backticks inside it.
// Code returns s as a Markdown code span that no backtick or line break in
// s can end early, for names from a repository (project names, directories)
// that Go code puts into a comment's intro.
func Code(s string) string { return codeSpan(s) }

func codeSpan(s string) string {
	// A code span cannot hold a line break: one inside would end the span (or
	// the paragraph) and let what follows render as Markdown.
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	n := longestRun(s, '`')
	delim := strings.Repeat("`", n+1)
	if n > 0 {
		return delim + " " + s + " " + delim
	}
	return delim + s + delim
}

// tableCell escapes s for a Markdown table cell: pipes and line breaks.
func tableCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// fenceFor returns a backtick fence longer than any backtick run in content.
func fenceFor(content string) string {
	return strings.Repeat("`", max(3, longestRun(content, '`')+1))
}

// tail returns the last n lines of s.
func tail(n int, s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[len(lines)-n:], "\n")
}

// lineCount returns the number of lines in s ("" has none).
func lineCount(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

var (
	planSummaryRE  = regexp.MustCompile(`(?m)^\s*(Plan: \d+ to .*|No changes\. .*)$`)
	applySummaryRE = regexp.MustCompile(`(?m)^\s*(Apply complete! Resources: .*|Destroy complete! Resources: .*)$`)
)

// planSummary returns Terraform's summary line of a plan ("Plan: 1 to add, 0 to
// change, 0 to destroy."), taken from the output or else built from the counts.
func planSummary(p Project) string {
	if m := planSummaryRE.FindAllStringSubmatch(cleanOutput(p.Output), -1); m != nil {
		return strings.TrimSpace(m[len(m)-1][1])
	}
	c := p.Counts
	s := "Plan: "
	if c.Import > 0 {
		s += fmt.Sprintf("%d to import, ", c.Import)
	}
	return s + fmt.Sprintf("%d to add, %d to change, %d to destroy.", c.Add, c.Change, c.Destroy)
}

// applySummary returns Terraform's summary line of an apply ("Apply complete!
// Resources: 1 added, 0 changed, 0 destroyed."), from the output or the counts.
func applySummary(p Project) string {
	if m := applySummaryRE.FindAllStringSubmatch(cleanOutput(p.Output), -1); m != nil {
		return strings.TrimSpace(m[len(m)-1][1])
	}
	c := p.Counts
	s := "Apply complete! Resources: "
	if c.Import > 0 {
		s += fmt.Sprintf("%d imported, ", c.Import)
	}
	return s + fmt.Sprintf("%d added, %d changed, %d destroyed.", c.Add, c.Change, c.Destroy)
}

// actionSymbol is the action column of the resource table, with Terraform's symbol.
func actionSymbol(action string) string {
	switch action {
	case ActionCreate:
		return "+ create"
	case ActionUpdate:
		return "~ update"
	case ActionDelete:
		return "- destroy"
	case ActionReplace:
		return "-/+ replace"
	case ActionRead:
		return "<= read"
	case ActionImport:
		return "import"
	default:
		return action
	}
}

// destroyed returns the resources a plan destroys: deletions and replacements.
func destroyed(rs []Resource) []Resource {
	var out []Resource
	for _, r := range rs {
		if r.Action == ActionDelete || r.Action == ActionReplace {
			out = append(out, r)
		}
	}
	return out
}

// unmet returns the requirements not met.
func unmet(rs []Requirement) []Requirement {
	var out []Requirement
	for _, r := range rs {
		if !r.Met {
			out = append(out, r)
		}
	}
	return out
}

// sameSource returns the Source every requirement in rs shares, or "" if they differ.
func sameSource(rs []Requirement) string {
	if len(rs) == 0 {
		return ""
	}
	for _, r := range rs[1:] {
		if r.Source != rs[0].Source {
			return ""
		}
	}
	return rs[0].Source
}

// isRunStep reports whether step names a custom run hook rather than a Terraform command.
func isRunStep(step string) bool {
	return step == "run" || strings.HasPrefix(step, "run ") || strings.HasPrefix(step, "run:")
}

// hasStatus reports whether any project has one of the statuses.
// anyQueued reports whether a project's plan waits in a lock's queue.
func anyQueued(ps []Project) bool {
	for _, p := range ps {
		if p.Status == StatusLocked && p.Lock != nil && p.Lock.QueuePosition > 0 {
			return true
		}
	}
	return false
}

func hasStatus(ps []Project, statuses ...string) bool {
	return len(withStatus(ps, statuses...)) > 0
}

// withStatus returns the projects with one of the statuses, in order.
func withStatus(ps []Project, statuses ...string) []Project {
	var out []Project
	for _, p := range ps {
		for _, s := range statuses {
			if p.Status == s {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// tallyItem is one "2 planned" part of a several-projects header.
type tallyItem struct {
	N    int
	Word string
}

// tally counts projects by result, in a fixed order, for the several-projects header.
func tally(c Comment) []tallyItem {
	words := []struct{ status, word string }{
		{StatusPlanned, "planned"},
		{StatusApplied, "applied"},
		{StatusNoChanges, "no changes"},
		{StatusError, "failed"},
		{StatusLocked, "locked"},
		{StatusRefused, "blocked"},
	}
	var out []tallyItem
	for _, w := range words {
		n, queued := 0, 0
		for _, p := range withStatus(c.Projects, w.status) {
			if p.Status == StatusLocked && p.Lock != nil && p.Lock.QueuePosition > 0 {
				queued++
			} else {
				n++
			}
		}
		if n > 0 {
			out = append(out, tallyItem{N: n, Word: w.word})
		}
		if queued > 0 {
			out = append(out, tallyItem{N: queued, Word: "queued"})
		}
	}
	if n := len(c.Running); n > 0 {
		out = append(out, tallyItem{N: n, Word: "running"})
	}
	return out
}
