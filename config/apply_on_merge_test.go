package config

import (
	"strings"
	"testing"
)

// apply_on_merge comes from repos.yaml; a repo config may set it, at the top
// or per project, only when allowed_overrides lists it.
func TestResolveApplyOnMerge(t *testing.T) {
	t.Parallel()
	const repo = "github.com/acme/infra"
	server := mustServer(t, "repos:\n- id: /.*/\n  apply_on_merge: true\n")
	got, err := server.Resolve(repo, "main", nil)
	if err != nil || !got.Defaults.ApplyOnMerge {
		t.Fatalf("repos.yaml apply_on_merge: Defaults.ApplyOnMerge = %v, %v; want true", got.Defaults.ApplyOnMerge, err)
	}

	repoCfg := "version: 3\napply_on_merge: true\nprojects:\n- dir: net\n- dir: db\n  apply_on_merge: false\n"
	_, err = DefaultServerConfig().Resolve(repo, "main", mustRepo(t, repoCfg))
	if err == nil || !strings.Contains(err.Error(), "atoll.yaml:2:1") || !strings.Contains(err.Error(), "allowed_overrides") {
		t.Errorf("apply_on_merge without allowed_overrides: %v; want an error at atoll.yaml:2:1 naming allowed_overrides", err)
	}
	_, err = DefaultServerConfig().Resolve(repo, "main", mustRepo(t, "version: 3\nprojects:\n- dir: net\n  apply_on_merge: true\n"))
	if err == nil || !strings.Contains(err.Error(), "atoll.yaml:4:3") {
		t.Errorf("project apply_on_merge without allowed_overrides: %v; want an error at atoll.yaml:4:3", err)
	}

	allowed := mustServer(t, "repos:\n- id: /.*/\n  allowed_overrides: [apply_on_merge]\n")
	got, err = allowed.Resolve(repo, "main", mustRepo(t, repoCfg))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Defaults.ApplyOnMerge || len(got.ConfiguredProjects) != 2 ||
		!got.ConfiguredProjects[0].ApplyOnMerge || got.ConfiguredProjects[1].ApplyOnMerge {
		t.Errorf("allowed: Defaults %v, projects %+v; want the top-level true inherited by net and db's own false", got.Defaults.ApplyOnMerge, got.ConfiguredProjects)
	}
	if _, err := ParseServerConfig("repos.yaml", []byte("repos:\n- id: /.*/\n  apply_on_merge: yes please\n")); err == nil || !strings.Contains(err.Error(), "repos.yaml:3:19") {
		t.Errorf("apply_on_merge not a boolean: %v; want repos.yaml:3:19", err)
	}
}
