package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by goreleaser through -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = ""
	date    = ""
)

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Date: date,
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if v.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					v.Commit = s.Value
				case "vcs.time":
					v.Date = s.Value
				}
			}
		}
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.Date == "" {
		v.Date = "unknown"
	}
	return v
}

// NewCmdVersion prints the version, commit, build date, Go version and platform.
func NewCmdVersion(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ectool's version, commit, build date, Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := currentVersion()
			if app.JSON() {
				return app.printJSON(v)
			}
			_, err := fmt.Fprintf(app.IO.Out, "ectool %s\ncommit: %s\nbuilt: %s\ngo: %s\nplatform: %s/%s\n",
				v.Version, v.Commit, v.Date, v.GoVersion, v.OS, v.Arch)
			return err
		},
	}
}
