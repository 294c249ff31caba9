// Package policy checks Terraform plans against policy sets written in Rego, the
// way Atlantis does with conftest, but in-process with OPA's Go library.
//
// A policy set is a directory (searched recursively) or a single file of Rego
// modules; files ending in _test.rego are Rego unit tests and are skipped. Every
// package found in a set is checked (conftest's --all-namespaces), so policies in
// `package main` and `package terraform.tags` both count. In each package the
// rules named deny, violation and warn, optionally with a suffix (deny_tags,
// warn_cost), produce messages: deny and violation are failures, warn is a
// warning. A rule is a set (`deny[msg] { ... }` or `deny contains msg if { ... }`)
// whose elements are strings, or objects with a string "msg" field (conftest's
// structured violations). conftest's exceptions work too: a package's
// `exception` rule, a set of arrays of rule names without their deny_/warn_/
// violation_ prefix, silences those rules.
//
// Both Rego syntaxes load: a file is parsed as Rego v1 and, if that fails, as
// Rego v0 (the `deny[msg] { ... }` style most existing conftest policies use).
// The input document is the plan JSON printed by `terraform show -json PLANFILE`.
package policy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Set is one named policy set: Path is a directory of Rego files or a single
// Rego file.
type Set struct {
	Name string
	Path string
}

// Result is the outcome of checking one plan against one policy set.
type Result struct {
	// Set is the policy set's name.
	Set string
	// Failures are the sorted messages of the set's deny and violation rules.
	Failures []string
	// Warnings are the sorted messages of the set's warn rules.
	Warnings []string
	// Passed is len(Failures) == 0.
	Passed bool
}

// Checker holds compiled policy sets. It is reusable and safe for concurrent
// use: it is never modified after Load.
type Checker struct {
	sets []compiledSet
}

// compiledSet is one policy set ready to evaluate with a single prepared query.
type compiledSet struct {
	name  string
	query rego.PreparedEvalQuery
	rules []ruleRef
}

// ruleRef is one deny/violation/warn rule of one package and the query
// variables that hold its value and whether an exception silences it.
type ruleRef struct {
	pkg       ast.Ref // data.main
	name      string  // deny
	failure   bool    // deny or violation, else warn
	valueVar  string
	exceptVar string // "" when the package has no exception rule
}

var (
	failureRule = regexp.MustCompile(`^(deny|violation)(_[a-zA-Z0-9]+)*$`)
	warningRule = regexp.MustCompile(`^warn(_[a-zA-Z0-9]+)*$`)
)

// Load reads, parses and compiles every .rego file (not _test.rego) of each
// set. A syntax or compile error is returned naming file:line:col; a missing
// path, or a set without any Rego file, is an error too.
func Load(ctx context.Context, sets []Set) (*Checker, error) {
	c := &Checker{sets: make([]compiledSet, 0, len(sets))}
	for _, s := range sets {
		cs, err := loadSet(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("load policy set %q: %w", s.Name, err)
		}
		c.sets = append(c.sets, cs)
	}
	return c, nil
}

func loadSet(ctx context.Context, s Set) (compiledSet, error) {
	files, err := regoFiles(s.Path)
	if err != nil {
		return compiledSet{}, err
	}
	modules := make(map[string]*ast.Module, len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return compiledSet{}, err
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return compiledSet{}, fmt.Errorf("read policy: %w", err)
		}
		m, err := parseModule(f, string(src))
		if err != nil {
			return compiledSet{}, err
		}
		modules[f] = m
	}

	compiler := ast.NewCompiler()
	compiler.Compile(modules)
	if compiler.Failed() {
		return compiledSet{}, fmt.Errorf("compile policies: %s", formatErrors(compiler.Errors))
	}

	rules, err := findRules(files, modules)
	if err != nil {
		return compiledSet{}, err
	}
	pq, err := rego.New(
		rego.Compiler(compiler),
		rego.Query(buildQuery(rules)),
	).PrepareForEval(ctx)
	if err != nil {
		return compiledSet{}, fmt.Errorf("prepare policy query: %w", err)
	}
	return compiledSet{name: s.Name, query: pq, rules: rules}, nil
}

// regoFiles lists the policy files of path in lexical order: path itself if it
// is a file, else every *.rego file under it except *_test.rego.
func regoFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("policy path: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || !strings.HasSuffix(name, ".rego") || strings.HasSuffix(name, "_test.rego") {
			return nil
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list policies in %s: %w", path, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .rego files in %s", path)
	}
	return files, nil
}

// parseModule parses src as Rego v1 and, failing that, as Rego v0. When both
// fail it reports the error of the parse that got further into the file, which
// is most likely the syntax the author meant (v1 on a tie).
func parseModule(file, src string) (*ast.Module, error) {
	parse := func(v ast.RegoVersion) (*ast.Module, error) {
		return ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: v, ProcessAnnotation: true})
	}
	m, errV1 := parse(ast.RegoV1)
	if errV1 == nil {
		return m, nil
	}
	m, errV0 := parse(ast.RegoV0)
	if errV0 == nil {
		return m, nil
	}
	err := errV1
	if errorPos(errV0) > errorPos(errV1) {
		err = errV0
	}
	return nil, fmt.Errorf("parse policy: %s", formatErrors(err))
}

// errorPos is the earliest offset an ast error reports, or -1.
func errorPos(err error) int {
	var errs ast.Errors
	switch e := err.(type) {
	case ast.Errors:
		errs = e
	case *ast.Error:
		errs = ast.Errors{e}
	}
	pos := -1
	for _, e := range errs {
		if e.Location != nil && (pos < 0 || e.Location.Offset < pos) {
			pos = e.Location.Offset
		}
	}
	return pos
}

// formatErrors renders OPA errors as "file:line:col: message", joined by "; ".
func formatErrors(err error) string {
	var errs ast.Errors
	switch e := err.(type) {
	case ast.Errors:
		errs = e
	case *ast.Error:
		errs = ast.Errors{e}
	default:
		return err.Error()
	}
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		if e.Location == nil {
			parts = append(parts, e.Message)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%d:%d: %s", e.Location.File, e.Location.Row, e.Location.Col, e.Message))
	}
	return strings.Join(parts, "; ")
}

// findRules lists each package's deny/violation/warn rules once, in file order.
// A boolean rule (`deny if { ... }`, v0 `deny { ... }`) and an object rule
// (`deny[k] := v`) are refused: conftest ignores them, so they would pass
// silently whatever the plan.
func findRules(files []string, modules map[string]*ast.Module) ([]ruleRef, error) {
	var rules []ruleRef
	seen := map[string]bool{}
	hasException := map[string]bool{}
	for _, f := range files {
		for _, r := range modules[f].Rules {
			if ref := r.Head.Ref(); len(ref) == 1 && ref[0].Equal(ast.VarTerm("exception")) {
				hasException[modules[f].Package.Path.String()] = true
			}
		}
	}
	for _, f := range files {
		m := modules[f]
		pkg := m.Package.Path
		for _, r := range m.Rules {
			head := r.Head
			ref := head.Ref()
			name, ok := ref[0].Value.(ast.Var)
			if !ok {
				continue
			}
			failure := failureRule.MatchString(string(name))
			if !failure && !warningRule.MatchString(string(name)) {
				continue
			}
			if len(head.Args) > 0 {
				continue // a function of that name, not a rule conftest evaluates
			}
			loc := r.Location
			if len(ref) > 1 {
				return nil, fmt.Errorf("%s:%d:%d: rule %s must be a set of messages: write `%s contains msg if { ... }`", loc.File, loc.Row, loc.Col, name, name)
			}
			if head.Key == nil && head.Value != nil && head.Value.Equal(ast.BooleanTerm(true)) {
				return nil, fmt.Errorf("%s:%d:%d: rule %s is a boolean and yields no message: write `%s contains msg if { ... }` (or `%s[msg] { ... }`)", loc.File, loc.Row, loc.Col, name, name, name)
			}
			full := pkg.Append(ast.StringTerm(string(name))).String()
			if seen[full] {
				continue
			}
			seen[full] = true
			rr := ruleRef{pkg: pkg, name: string(name), failure: failure, valueVar: fmt.Sprintf("r%d", len(rules))}
			if hasException[pkg.String()] {
				rr.exceptVar = fmt.Sprintf("e%d", len(rules))
			}
			rules = append(rules, rr)
		}
	}
	return rules, nil
}

// buildQuery makes the one query that evaluates every rule of a set. Each rule's
// value is wrapped in a comprehension so that an undefined rule yields [] rather
// than making the whole query undefined.
func buildQuery(rules []ruleRef) string {
	if len(rules) == 0 {
		return "true"
	}
	parts := make([]string, 0, 2*len(rules))
	for _, r := range rules {
		parts = append(parts, fmt.Sprintf("%s := [x | x := %s]", r.valueVar, r.ref()))
		if r.exceptVar != "" {
			exc := r.pkg.Append(ast.StringTerm("exception"))
			parts = append(parts, fmt.Sprintf("%s := [1 | %s[_][_] == %s]",
				r.exceptVar, exc, ast.StringTerm(exceptionName(r.name))))
		}
	}
	return strings.Join(parts, "; ")
}

// ref is the rule's full reference, such as data.main.deny_tags.
func (r ruleRef) ref() ast.Ref {
	return r.pkg.Append(ast.StringTerm(r.name))
}

// exceptionName is the name conftest matches exceptions against: the rule name
// without its deny_, violation_ or warn_ prefix.
func exceptionName(rule string) string {
	for _, p := range []string{"violation_", "deny_", "warn_"} {
		rule = strings.TrimPrefix(rule, p)
	}
	return rule
}

// Sets returns the names of the loaded policy sets, in order.
func (c *Checker) Sets() []string {
	names := make([]string, len(c.sets))
	for i, s := range c.sets {
		names[i] = s.name
	}
	return names
}
