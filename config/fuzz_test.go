package config

import (
	"os"
	"path/filepath"
	"testing"
)

var fuzzSeeds = []string{
	"",
	"version: 3\n",
	"version: 3\nprojects:\n- dir: a\n  workspace: [x]\n",
	"version: 3\nprojects:\n- &a {dir: a}\n- <<: *a\n  name: b\n",
	"version: 3\nprojects:\n- <<: [*x]\n",
	"a: &a [*a]\n",
	"version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: {command: x, output: [hide, {filter_regex: a}]}\n",
	"version: 3\nprojects:\n- {dir: a, depends_on: [b]}\n- {name: b, dir: a}\n",
	"{version: 3, autodiscover: {mode: enabled, ignore_paths: ['[']}}",
	"\t\x00",
	"--- !!map\n? [a]\n: b\n",
}

// FuzzParseRepoConfig checks that no input makes the parser (or Resolve) panic, and
// that a refusal always carries positioned errors.
func FuzzParseRepoConfig(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "atlantis.yaml")); err == nil {
		f.Add(data)
	}
	permissive := mustServerF(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, err := ParseRepoConfig("atoll.yaml", data)
		if err != nil {
			if rc != nil {
				t.Fatalf("config returned with error %v", err)
			}
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("error %v carries no *Error", err)
			}
			for _, e := range errs {
				if e.File != "atoll.yaml" || e.Msg == "" {
					t.Fatalf("badly formed error %#v", e)
				}
			}
			return
		}
		if rc.Version != 3 {
			t.Fatalf("accepted version %d", rc.Version)
		}
		r, err := permissive.Resolve("github.com/a/b", "main", rc)
		if err == nil && r == nil {
			t.Fatal("Resolve returned nil without error")
		}
		if _, err := DefaultServerConfig().Resolve("github.com/a/b", "", rc); err != nil && len(Errors(err)) == 0 {
			t.Fatalf("Resolve error %v carries no *Error", err)
		}
	})
}

// FuzzParseServerConfig checks that no repos.yaml input makes the parser panic.
func FuzzParseServerConfig(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "repos.yaml")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseServerConfig("repos.yaml", data)
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("error %v carries no *Error", err)
			}
			return
		}
		if _, err := sc.Resolve("github.com/a/b", "main", nil); err != nil {
			t.Fatalf("Resolve without a repo config failed: %v", err)
		}
	})
}

func mustServerF(f *testing.F) *ServerConfig {
	sc, err := ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  allowed_overrides: [plan_requirements, apply_requirements, import_requirements, workflow, delete_source_branch_on_merge, repo_locking, repo_locks, policy_check, custom_policy_check, silence_pr_comments]
  allow_custom_workflows: true
`))
	if err != nil {
		f.Fatal(err)
	}
	return sc
}
