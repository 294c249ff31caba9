package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MaxProjectPattern is the longest regular expression a comment's -p may be.
// Go's regexp (RE2) matches in time linear in the input, and names are short,
// so the cap only bounds how much work compiling takes.
const MaxProjectPattern = 128

// ProjectPattern is a comment's -p read as a regular expression, as Atlantis
// reads it with --enable-regexp-cmd: anchored at both ends and matched
// against the names of the configured projects. A pattern that selects more
// than one project must start with one of the repo config's
// allowed_regexp_prefixes, when it lists any.
type ProjectPattern struct {
	// Expr is the expression as written.
	Expr     string
	re       *regexp.Regexp
	prefixes []string
}

// CompileProjectPattern compiles expr for -p with the repo config's
// allowed_regexp_prefixes. Its error is a sentence to show on the pull request.
func CompileProjectPattern(expr string, allowedPrefixes []string) (*ProjectPattern, error) {
	if len(expr) > MaxProjectPattern {
		return nil, fmt.Errorf("`-p` is %d characters long; a regular expression there may have at most %d", len(expr), MaxProjectPattern)
	}
	if _, err := regexp.Compile(expr); err != nil {
		return nil, fmt.Errorf("`-p %s` is not a valid regular expression: %s", expr, regexpReason(err))
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil { // cannot happen: expr compiles on its own
		return nil, fmt.Errorf("`-p %s` is not a valid regular expression: %s", expr, regexpReason(err))
	}
	return &ProjectPattern{Expr: expr, re: re, prefixes: allowedPrefixes}, nil
}

// Match reports whether name is matched; an unnamed project never is.
func (p *ProjectPattern) Match(name string) bool {
	return name != "" && p.re.MatchString(name)
}

// allowsSeveral reports whether the pattern may select more than one project.
func (p *ProjectPattern) allowsSeveral() bool {
	if len(p.prefixes) == 0 {
		return true
	}
	for _, pre := range p.prefixes {
		if strings.HasPrefix(p.Expr, pre) {
			return true
		}
	}
	return false
}

// Check refuses a selection of matched project names (repeats allowed) when it
// holds several projects and the pattern does not start with an allowed
// prefix. known are the names that could have matched, for the message when
// none did.
func (p *ProjectPattern) Check(matched, known []string) error {
	names := uniqSorted(matched)
	switch {
	case len(names) == 0:
		known = uniqSorted(known)
		if len(known) == 0 {
			return fmt.Errorf("`-p %s` matches no project: no project has a name here (a regular expression in -p matches the names in the repo config's projects)", p.Expr)
		}
		return fmt.Errorf("`-p %s` matches no project name (the whole name must match); projects: %s", p.Expr, strings.Join(known, ", "))
	case len(names) > 1 && !p.allowsSeveral():
		//lint:ignore ST1005 this error is the sentences shown on the pull request
		return fmt.Errorf("`-p %s` matches %d projects (%s), and the repo config's allowed_regexp_prefixes lets a regular expression select several projects only when it starts with %s. Start the expression with an allowed prefix, or name one project.",
			p.Expr, len(names), strings.Join(names, ", "), quoteOr(p.prefixes))
	}
	return nil
}

// SelectPattern returns the configured projects whose names p matches, in
// the order written, or an error saying why none may be selected.
func (r *Resolved) SelectPattern(p *ProjectPattern) ([]Project, error) {
	var out []Project
	var matched, known []string
	for _, pr := range r.ConfiguredProjects {
		if pr.Name != "" {
			known = append(known, pr.Name)
		}
		if p.Match(pr.Name) {
			out = append(out, pr.clone())
			matched = append(matched, pr.Name)
		}
	}
	if err := p.Check(matched, known); err != nil {
		return nil, err
	}
	return out, nil
}

func uniqSorted(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// quoteOr renders [a b c] as "`a`, `b` or `c`".
func quoteOr(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = "`" + s + "`"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
