package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestInstallMirror(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "provider")
	if err := os.WriteFile(bin, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(tmp, "mirror")
	if err := InstallMirror(bin, mirror); err != nil {
		t.Fatal(err)
	}
	// Installing again replaces the copy.
	if err := os.WriteFile(bin, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := InstallMirror(bin, mirror); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(mirror, "registry.terraform.io", "atoll", "sandbox", "0.1.0",
		runtime.GOOS+"_"+runtime.GOARCH, "terraform-provider-sandbox_v0.1.0")
	if got := MirrorPath(mirror); got != want {
		t.Errorf("MirrorPath = %s, want %s", got, want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("installed provider mode = %v, want executable", fi.Mode())
	}
	if data, _ := os.ReadFile(want); string(data) != "v2" {
		t.Errorf("installed provider = %q, want the second copy", data)
	}
	entries, err := os.ReadDir(filepath.Dir(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("platform dir holds %d files, want only the binary (no temp files)", len(entries))
	}
	if err := InstallMirror(filepath.Join(tmp, "missing"), mirror); err == nil {
		t.Error("InstallMirror of a missing binary succeeded")
	}
}

func TestCLIConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dir, wantPath string
	}{
		{name: "plain", dir: "/tmp/mirror", wantPath: `path    = "/tmp/mirror"`},
		{name: "quotes and template syntax stay literal", dir: `/tmp/a"b/${x}/%{y}\z`, wantPath: `path    = "/tmp/a\"b/$${x}/%%{y}\\z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CLIConfig(tt.dir)
			for _, want := range []string{
				"provider_installation {",
				"filesystem_mirror {",
				tt.wantPath,
				`include = ["registry.terraform.io/atoll/*"]`,
				"direct {",
				`exclude = ["registry.terraform.io/atoll/*"]`,
			} {
				if !strings.Contains(got, want) {
					t.Errorf("CLIConfig(%q) lacks %q:\n%s", tt.dir, want, got)
				}
			}
		})
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := CLIConfig("mirror"), `"`+filepath.Join(wd, "mirror")+`"`; !strings.Contains(got, want) {
		t.Errorf("CLIConfig of a relative dir lacks the absolute path %s:\n%s", want, got)
	}
}
