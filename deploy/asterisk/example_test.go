package asterisk_test

import (
	"fmt"

	"webcallback/deploy/asterisk"
)

// Render writes the Asterisk side for the service's settings; ParseConf
// reads a file back as Asterisk would. Here: the AMI account of
// manager.conf and the trunk of pjsip.conf for a carrier gateway.
func ExampleRender() {
	s := asterisk.DefaultSettings() // an IP gateway, the production call limits
	s.GatewayHost = "192.0.2.10"
	s.AMISecret = "example-secret-0123456789"
	files, err := asterisk.Render(s)
	if err != nil {
		panic(err)
	}
	fmt.Println(asterisk.Files)

	manager, err := asterisk.ParseConf(files["manager.conf"])
	if err != nil {
		panic(err)
	}
	user := manager.Section("webcallback")
	for _, key := range []string{"deny", "permit", "read", "write"} {
		v, _ := user.Get(key)
		fmt.Printf("manager.conf [webcallback] %s = %s\n", key, v)
	}

	pjsip, err := asterisk.ParseConf(files["pjsip.conf"])
	if err != nil {
		panic(err)
	}
	for _, sec := range pjsip.SectionsNamed(s.Trunk) { // the endpoint (type from its template) and the aor
		for _, key := range []string{"aors", "contact"} {
			if v, ok := sec.Get(key); ok {
				fmt.Printf("pjsip.conf [%s] %s = %s\n", s.Trunk, key, v)
			}
		}
	}
	// Output:
	// [modules.conf logger.conf pjsip.conf extensions.conf manager.conf cdr.conf cdr_manager.conf]
	// manager.conf [webcallback] deny = 0.0.0.0/0.0.0.0
	// manager.conf [webcallback] permit = 127.0.0.1/255.255.255.255
	// manager.conf [webcallback] read = system,call,cdr,user
	// manager.conf [webcallback] write = originate,call,reporting
	// pjsip.conf [gateway] aors = gateway
	// pjsip.conf [gateway] contact = sip:192.0.2.10:5060
}
