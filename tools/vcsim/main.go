// Command vcsim serves govmomi's vCenter simulator for homebound's tests: one VPX model whose datastores live under
// -dir, whose only accepted login is -username/-password. It prints one JSON line (the SDK URL and each datastore's
// local directory; with -tls the server's certificate) once it listens, and serves until SIGTERM or SIGINT (or, with
// -stdin-lifeline, until stdin closes).
package main

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

type datastore struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory holding the datastores' files")
	username := flag.String("username", "homebound", "the only user name Login accepts")
	password := flag.String("password", "", "the only password Login accepts")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate (printed as PEM)")
	lifeline := flag.Bool("stdin-lifeline", false, "also stop when stdin reaches EOF: the parent that holds it died")
	flag.Parse()
	if *password == "" {
		log.Fatal("-password is required")
	}
	// The model makes each datastore with ioutil.TempDir("", ...), which honours TMPDIR.
	if err := os.Setenv("TMPDIR", *dir); err != nil {
		log.Fatal(err)
	}

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	// A user other than simulator.DefaultLogin makes Login accept only this pair (SessionManager.validLogin).
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(*username, *password)}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}
	server := model.Service.NewServer()

	stores := []datastore{}
	for _, ref := range simulator.Map.All("Datastore") {
		ds := ref.(*simulator.Datastore)
		stores = append(stores, datastore{Name: ds.Name, Dir: ds.Info.GetDatastoreInfo().Url})
	}
	sdk := *server.URL
	sdk.User = nil
	ready := map[string]interface{}{"url": sdk.String(), "datastores": stores}
	if *useTLS {
		ready["certificate"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}))
	}
	line, err := json.Marshal(ready)
	if err != nil {
		log.Fatal(err)
	}
	os.Stdout.Write(append(line, '\n'))

	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if *lifeline {
		// A test worker killed with SIGKILL cannot send SIGTERM; its end of the pipe closes all the same.
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}
	<-stop
	// The datastore directories are left in place: a test may inspect them after stopping, and they live in its
	// own temporary directory.
	server.Close()
}
