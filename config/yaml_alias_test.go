package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// billionLaughs is the classic alias bomb: nine levels of nine aliases to the
// level below, standing for 9^9 (387 million) strings under key top.
func billionLaughs(top string) string {
	var b strings.Builder
	b.WriteString("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	prev := "a"
	for _, n := range strings.Split("bcdefghi", "") {
		fmt.Fprintf(&b, "%s: &%s [%s]\n", n, n, strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", "))
		prev = n
	}
	return b.String() + top + ": *i\n"
}

// TestAliasBombsAreRefused checks that both parsers refuse alias bombs with a
// positioned error, in well under a second and without allocating much. Decoding
// into yaml.Node does not expand aliases, so yaml.v3's own alias limit (which
// applies to decoding into Go values) does not protect them; checkAliases does.
func TestAliasBombsAreRefused(t *testing.T) {
	// Not parallel: the allocation figure is for this test alone.
	// 1100 aliases to a list of 500 values stand for 550,000 values.
	wide := "x: &x [" + strings.Repeat("a, ", 500) + "]\nversion: 3\nprojects: [" + strings.Repeat("*x, ", 1100) + "]\n"
	tests := []struct {
		name, doc, wantErr string
		parse              func(data []byte) error
	}{
		{"billion laughs in atoll.yaml", billionLaughs("projects"),
			"atoll.yaml:6:32: too many aliases: expanding them would add more than 524288 values to the document; write the repeated parts out instead",
			func(data []byte) error { _, err := ParseRepoConfig("atoll.yaml", data); return err }},
		{"billion laughs in repos.yaml", billionLaughs("repos"),
			"repos.yaml:6:32: too many aliases: expanding them would add more than 524288 values to the document; write the repeated parts out instead",
			func(data []byte) error { _, err := ParseServerConfig("repos.yaml", data); return err }},
		{"many aliases to one mapping", wide,
			"atoll.yaml:3:4196: too many aliases: expanding them would add more than 524288 values to the document; write the repeated parts out instead",
			func(data []byte) error { _, err := ParseRepoConfig("atoll.yaml", data); return err }},
		{"alias inside the value it names", "version: 3\nprojects: &p [*p]\n",
			"atoll.yaml:2:15: alias *p is used inside the value it names",
			func(data []byte) error { _, err := ParseRepoConfig("atoll.yaml", data); return err }},
		{"alias inside its own mapping in repos.yaml", "repos: &r\n- id: /.*/\n  x: *r\n",
			"repos.yaml:3:6: alias *r is used inside the value it names",
			func(data []byte) error { _, err := ParseServerConfig("repos.yaml", data); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			err := tt.parse([]byte(tt.doc))
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if len(Errors(err)) != 1 {
				t.Errorf("error %v is not one *Error", err)
			}
			if took > 500*time.Millisecond {
				t.Errorf("took %v, want well under a second", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
		})
	}
}

// TestAliasesWithinTheLimit checks that ordinary uses of anchors, aliases and
// merge keys still work, including thousands of projects sharing defaults.
func TestAliasesWithinTheLimit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 3\nprojects:\n- &base\n  name: base\n  dir: base\n  workspace: prod\n" +
		"  autoplan: {when_modified: ['*.tf', '../modules/**/*.tf']}\n  apply_requirements: [approved, mergeable]\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "- <<: *base\n  name: p%d\n  dir: envs/p%d\n", i, i)
	}
	rc, err := ParseRepoConfig("atoll.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("ParseRepoConfig: %v", err)
	}
	last := rc.Projects[len(rc.Projects)-1]
	if len(rc.Projects) != 5001 || last.Workspace != "prod" || len(last.ApplyRequirements) != 2 || last.Dir != "envs/p4999" {
		t.Errorf("got %d projects, last %+v", len(rc.Projects), last)
	}
}
