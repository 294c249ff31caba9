package config

import (
	"strings"
	"testing"
)

func TestLoadRepoConfig(t *testing.T) {
	t.Parallel()
	v3 := "version: 3\n"
	tests := []struct {
		name     string
		files    map[string]string
		file     string
		wantFile string
		wantNil  bool
		wantErr  string
	}{
		{"none", map[string]string{"main.tf": ""}, "", "", true, ""},
		{"atoll.yaml preferred", map[string]string{"atoll.yaml": v3, "atlantis.yaml": "version: 2\n"}, "", "atoll.yaml", false, ""},
		{"atoll.yml", map[string]string{"atoll.yml": v3}, "", "atoll.yml", false, ""},
		{"atlantis.yaml as-is", map[string]string{"atlantis.yaml": v3}, "", "atlantis.yaml", false, ""},
		{"atlantis.yml", map[string]string{"atlantis.yml": v3}, "", "atlantis.yml", false, ""},
		{"repo_config_file", map[string]string{"atoll.yaml": "bad", "deploy/prod.yaml": v3}, "deploy/prod.yaml", "deploy/prod.yaml", false, ""},
		{"repo_config_file missing", map[string]string{"atoll.yaml": v3}, "other.yaml", "", true, ""},
		{"repo_config_file outside", nil, "../x.yaml", "", true, `repo config file "../x.yaml": must be a file inside the repository`},
		{"invalid", map[string]string{"atlantis.yaml": "version: 3\nprojects:\n- dir: a\n  workspace: [x]\n"}, "", "atlantis.yaml", true, "atlantis.yaml:4:14: projects[0].workspace: must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := writeTree(t, tt.files)
			rc, file, err := LoadRepoConfig(root, tt.file)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("LoadRepoConfig error = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("LoadRepoConfig: %v", err)
			}
			if file != tt.wantFile {
				t.Errorf("file = %q, want %q", file, tt.wantFile)
			}
			if (rc == nil) != tt.wantNil {
				t.Fatalf("config = %+v, want nil: %v", rc, tt.wantNil)
			}
			if rc != nil && (rc.File != file || rc.Version != 3) {
				t.Errorf("config File=%q Version=%d, want %q and 3", rc.File, rc.Version, file)
			}
		})
	}
	if _, _, err := LoadRepoConfig(writeTree(t, map[string]string{"atoll.yaml/x": ""}), ""); err == nil || !strings.Contains(err.Error(), "read repo config atoll.yaml") {
		t.Errorf("a directory named atoll.yaml: error = %v, want a read error", err)
	}
}
