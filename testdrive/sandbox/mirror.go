package sandbox

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// BinaryName is the file name Terraform expects for this provider version
// inside an unpacked filesystem mirror.
const BinaryName = "terraform-provider-sandbox_v" + Version

// MirrorPath returns where InstallMirror puts the provider binary under
// mirrorDir: MIRROR/registry.terraform.io/atoll/sandbox/0.1.0/OS_ARCH/terraform-provider-sandbox_v0.1.0.
func MirrorPath(mirrorDir string) string {
	return filepath.Join(mirrorDir, filepath.FromSlash(Address), Version,
		runtime.GOOS+"_"+runtime.GOARCH, BinaryName)
}

// InstallMirror copies the built provider binary into mirrorDir in Terraform's
// unpacked filesystem-mirror layout (see MirrorPath), replacing an earlier copy.
// Point Terraform at it with CLIConfig(mirrorDir).
func InstallMirror(providerBinary, mirrorDir string) error {
	dst := MirrorPath(mirrorDir)
	src, err := os.Open(providerBinary)
	if err != nil {
		return fmt.Errorf("install sandbox provider into mirror %q: %w", mirrorDir, err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("install sandbox provider into mirror %q: %w", mirrorDir, err)
	}
	// Write beside the target and rename, so a terraform reading the mirror
	// never sees a half-copied binary.
	tmp, err := os.CreateTemp(filepath.Dir(dst), BinaryName+".tmp*")
	if err != nil {
		return fmt.Errorf("install sandbox provider into mirror %q: %w", mirrorDir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return fmt.Errorf("copy sandbox provider %q: %w", providerBinary, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("install sandbox provider into mirror %q: %w", mirrorDir, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install sandbox provider into mirror %q: %w", mirrorDir, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install sandbox provider into mirror %q: %w", mirrorDir, err)
	}
	return nil
}

// CLIConfig returns Terraform CLI configuration (the content of the file
// TF_CLI_CONFIG_FILE names) that installs atoll/* providers from mirrorDir
// and every other provider from its registry as usual. A relative mirrorDir
// is made absolute against the current directory, since terraform runs in
// other directories.
func CLIConfig(mirrorDir string) string {
	if abs, err := filepath.Abs(mirrorDir); err == nil {
		mirrorDir = abs
	}
	include := hclQuote(path.Dir(Address) + "/*") // registry.terraform.io/atoll/*
	return fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %s
    include = [%s]
  }
  direct {
    exclude = [%s]
  }
}
`, hclQuote(mirrorDir), include, include)
}

// hclQuote returns s as an HCL string literal: quotes and backslashes escaped,
// and template sequences (${, %{) doubled so they stay literal.
func hclQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}
