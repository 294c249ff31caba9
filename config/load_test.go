package config

import (
	"os"
	"path/filepath"
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

// TestLoadRepoConfigRefusesUnsafeFiles checks that a pull request cannot make the
// server read outside the repository, block, or run out of memory through its
// config file, and that each refusal is an error the pull request is shown.
func TestLoadRepoConfigRefusesUnsafeFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(t *testing.T, repo, outside string)
		file     string // repo_config_file
		wantFile string
		wantErr  string
	}{
		{
			name:     "symlink to /dev/zero",
			setup:    func(t *testing.T, repo, _ string) { mustSymlink(t, "/dev/zero", filepath.Join(repo, "atlantis.yaml")) },
			wantFile: "atlantis.yaml",
			wantErr:  "read repo config atlantis.yaml: is a symbolic link that leaves the repository",
		},
		{
			name: "symlink to a valid config outside the repository",
			setup: func(t *testing.T, repo, outside string) {
				if err := os.WriteFile(outside, []byte("version: 3\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				mustSymlink(t, outside, filepath.Join(repo, "atoll.yaml"))
			},
			wantFile: "atoll.yaml",
			wantErr:  "read repo config atoll.yaml: is a symbolic link that leaves the repository",
		},
		{
			name:     "named pipe",
			setup:    func(t *testing.T, repo, _ string) { mustFIFO(t, filepath.Join(repo, "atlantis.yaml")) },
			wantFile: "atlantis.yaml",
			wantErr:  "read repo config atlantis.yaml: is not a regular file: it is a named pipe (FIFO)",
		},
		{
			name: "larger than 1 MiB",
			setup: func(t *testing.T, repo, _ string) {
				writeFile(t, repo, "atoll.yaml", "version: 3\n"+strings.Repeat("# padding\n", MaxRepoConfigSize/10))
			},
			wantFile: "atoll.yaml",
			wantErr:  "read repo config atoll.yaml: is 1048581 bytes, larger than the 1 MiB limit",
		},
		{
			name: "repo_config_file through a symlinked directory leaving the repository",
			setup: func(t *testing.T, repo, outside string) {
				mustSymlink(t, filepath.Dir(outside), filepath.Join(repo, "deploy"))
			},
			file:     "deploy/outside",
			wantFile: "deploy/outside",
			wantErr:  "read repo config deploy/outside: is reached through a symbolic link that leaves the repository",
		},
		{
			name:    "repo_config_file with ..",
			setup:   func(t *testing.T, repo, _ string) { writeFile(t, repo, "deploy/atoll.yaml", "version: 3\n") },
			file:    "deploy/../../outside",
			wantErr: `repo config file "deploy/../../outside": must be a file inside the repository`,
		},
		{
			name:    "repo_config_file with a NUL byte",
			setup:   func(t *testing.T, repo, _ string) {},
			file:    "atoll.yaml\x00",
			wantErr: `repo config file "atoll.yaml\x00": must be a file inside the repository`,
		},
		{
			name: "symlink to a config inside the repository is read",
			setup: func(t *testing.T, repo, _ string) {
				writeFile(t, repo, "infra/atoll.yaml", "version: 3\n")
				mustSymlink(t, "infra/atoll.yaml", filepath.Join(repo, "atoll.yaml"))
			},
			wantFile: "atoll.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo, outside := repoWithOutside(t)
			tt.setup(t, repo, outside)
			type result struct {
				rc   *RepoConfig
				file string
				err  error
			}
			r := prompt(t, func() result {
				rc, file, err := LoadRepoConfig(repo, tt.file)
				return result{rc, file, err}
			})
			if r.file != tt.wantFile {
				t.Errorf("file = %q, want %q", r.file, tt.wantFile)
			}
			if tt.wantErr == "" {
				if r.err != nil || r.rc == nil || r.rc.Version != 3 {
					t.Fatalf("LoadRepoConfig = %+v, %v; want the config", r.rc, r.err)
				}
				return
			}
			if r.err == nil || r.err.Error() != tt.wantErr {
				t.Fatalf("LoadRepoConfig error = %v, want %q", r.err, tt.wantErr)
			}
			if r.rc != nil {
				t.Errorf("config %+v returned with an error", r.rc)
			}
			if strings.Contains(r.err.Error(), filepath.Dir(repo)) {
				t.Errorf("error %q shows the server's path", r.err)
			}
		})
	}
}
