package policy

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Old-style (Rego v0) policy, as most Atlantis users have them.
const forbiddenV0 = `package main

deny[msg] {
	rc := input.resource_changes[_]
	rc.type == "terraform_data"
	contains(rc.change.after.input, "forbidden")
	msg := sprintf("%s: input must not contain \"forbidden\"", [rc.address])
}
`

// Rego v1 warn rule.
const adviceV1 = `package main

warn contains msg if {
	some rc in input.resource_changes
	"create" in rc.change.actions
	msg := sprintf("%s will be created", [rc.address])
}
`

// Another namespace, structured violations, a suffixed warn rule and a helper
// package (in v0 syntax) in a subdirectory.
const tagsV1 = `package terraform.tags

import data.terraform.lib

violation contains {"msg": msg, "id": "NAME-1"} if {
	some rc in input.resource_changes
	lib.is_temporary(rc.name)
	msg := sprintf("%s: temporary resources may not be applied", [rc.address])
}

warn_inputs contains msg if {
	some rc in input.resource_changes
	count(rc.change.after.input) > 10
	msg := sprintf("%s: input longer than 10 characters", [rc.address])
}
`

const libV0 = `package terraform.lib

is_temporary(name) {
	startswith(name, "tmp_")
}
`

// conftest exceptions: deny_everything is silenced, deny_unnamed is not.
const exceptedV1 = `package main

import rego.v1

deny_everything contains msg if {
	some rc in input.resource_changes
	msg := sprintf("%s: denied", [rc.address])
}

deny_unnamed contains msg if {
	some rc in input.resource_changes
	rc.name == "bad"
	msg := sprintf("%s: \"bad\" is not a name", [rc.address])
}

exception contains rules if {
	rules := ["everything"]
}

warn contains "exceptions only silence the rules they name"
`

const badPlanConfig = `
resource "terraform_data" "ok" {
  input = "fine"
}

resource "terraform_data" "bad" {
  input = "forbidden-value"
}

resource "terraform_data" "tmp_scratch" {
  input = "scratch"
}
`

const cleanPlanConfig = `
resource "terraform_data" "ok" {
  input = "fine"
}
`

// testSets writes the policy sets above into a temporary directory.
func testSets(t *testing.T) []Set {
	t.Helper()
	root := t.TempDir()
	forbidden := writeFiles(t, filepath.Join(root, "forbidden"), map[string]string{
		"forbidden.rego": forbiddenV0,
		// Rego unit tests are not policies: this one would not even parse.
		"forbidden_test.rego": "package main\n\ntest_x { this is not rego\n",
		"README.md":           "not a policy",
	})
	writeFiles(t, filepath.Join(root, "advice"), map[string]string{"advice.rego": adviceV1})
	tags := writeFiles(t, filepath.Join(root, "tags"), map[string]string{
		"tags.rego":     tagsV1,
		"lib/lib.rego":  libV0,
		"lib/notes.txt": "ignored",
	})
	excepted := writeFiles(t, filepath.Join(root, "excepted"), map[string]string{"policy.rego": exceptedV1})
	return []Set{
		{Name: "forbidden", Path: forbidden},
		{Name: "advice", Path: filepath.Join(root, "advice", "advice.rego")}, // a single file
		{Name: "tags", Path: tags},
		{Name: "excepted", Path: excepted},
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := Load(ctx, testSets(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"forbidden", "advice", "tags", "excepted"}, c.Sets()); diff != "" {
		t.Errorf("Sets() mismatch (-want +got):\n%s", diff)
	}

	tests := []struct {
		name   string
		config string
		want   []Result
	}{
		{
			name:   "violating plan",
			config: badPlanConfig,
			want: []Result{
				{
					Set:      "forbidden",
					Failures: []string{`terraform_data.bad: input must not contain "forbidden"`},
				},
				{
					Set: "advice",
					Warnings: []string{
						"terraform_data.bad will be created",
						"terraform_data.ok will be created",
						"terraform_data.tmp_scratch will be created",
					},
					Passed: true,
				},
				{
					Set:      "tags",
					Failures: []string{"terraform_data.tmp_scratch: temporary resources may not be applied"},
					Warnings: []string{"terraform_data.bad: input longer than 10 characters"},
				},
				{
					Set:      "excepted",
					Failures: []string{`terraform_data.bad: "bad" is not a name`},
					Warnings: []string{"exceptions only silence the rules they name"},
				},
			},
		},
		{
			name:   "passing plan",
			config: cleanPlanConfig,
			want: []Result{
				{Set: "forbidden", Passed: true},
				{Set: "advice", Warnings: []string{"terraform_data.ok will be created"}, Passed: true},
				{Set: "tags", Passed: true},
				{Set: "excepted", Warnings: []string{"exceptions only silence the rules they name"}, Passed: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan := planJSON(t, tt.config)
			got, err := c.Check(ctx, plan)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Check() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckConcurrent runs one Checker from many goroutines (run with -race).
func TestCheckConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := Load(ctx, testSets(t))
	if err != nil {
		t.Fatal(err)
	}
	plan := planJSON(t, badPlanConfig)
	want, err := c.Check(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([][]Result, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Go(func() { got[i], errs[i] = c.Check(ctx, plan) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Errorf("goroutine %d mismatch (-want +got):\n%s", i, diff)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string // written into the set's directory; nil: no directory
		want  []string          // substrings of the error, "DIR" stands for the set's directory
		is    error
	}{
		{
			name:  "missing path",
			files: nil,
			want:  []string{`load policy set "s"`, "DIR"},
			is:    fs.ErrNotExist,
		},
		{
			name:  "no rego files",
			files: map[string]string{"only_test.rego": "package main\n", "a.txt": "x"},
			want:  []string{"no .rego files in DIR"},
		},
		{
			name:  "v0 syntax error",
			files: map[string]string{"broken.rego": "package main\n\ndeny[msg] {\n\tmsg := \n}\n"},
			want:  []string{"DIR/broken.rego:5:1: unexpected } token"},
		},
		{
			name:  "v1 syntax error",
			files: map[string]string{"broken.rego": "package main\n\nwarn contains msg if {\n\tmsg := \"a\" +\n}\n"},
			want:  []string{"DIR/broken.rego:5:1: unexpected } token"},
		},
		{
			name:  "compile error",
			files: map[string]string{"ok.rego": "package main\n", "undef.rego": "package main\n\ndeny contains msg if {\n\tmsg := no_such_fn(input)\n}\n"},
			want:  []string{"compile policies", "DIR/undef.rego:4:9:", "no_such_fn"},
		},
		{
			name:  "boolean deny rule",
			files: map[string]string{"bool.rego": "package main\n\ndeny if {\n\tinput.format_version\n}\n"},
			want:  []string{"DIR/bool.rego:3:1:", "rule deny is a boolean", "deny contains msg if"},
		},
		{
			name:  "v0 boolean warn rule",
			files: map[string]string{"bool.rego": "package x.y\n\nwarn_me {\n\tinput.format_version\n}\n"},
			want:  []string{"DIR/bool.rego:3:1:", "rule warn_me is a boolean"},
		},
		{
			name:  "object deny rule",
			files: map[string]string{"obj.rego": "package main\n\ndeny[k] := v if {\n\tk := \"a\"\n\tv := \"b\"\n}\n"},
			want:  []string{"DIR/obj.rego:3:1:", "must be a set of messages"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "policies")
			if tt.files != nil {
				writeFiles(t, dir, tt.files)
			}
			_, err := Load(context.Background(), []Set{{Name: "s", Path: dir}})
			if err == nil {
				t.Fatal("Load() succeeded, want an error")
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "DIR", dir); !strings.Contains(err.Error(), w) {
					t.Errorf("Load() error = %q, want it to contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Load() error = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"nomsg.rego": "package main\n\nviolation contains {\"message\": \"no msg key\"} if {\n\tinput.format_version\n}\n",
	})
	c, err := Load(ctx, []Set{{Name: "nomsg", Path: dir}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		plan []byte
		want []string
	}{
		{name: "plan is not json", plan: []byte("Terraform will perform the following actions"), want: []string{"parse plan json"}},
		{name: "violation without msg", plan: planJSON(t, cleanPlanConfig), want: []string{`check policy set "nomsg"`, "data.main.violation", `no string "msg" field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Check(ctx, tt.plan)
			if err == nil {
				t.Fatal("Check() succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check() error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
