//! HTTP Digest (Debian's apache2 from a private config with mod_auth_digest,
//! on a loopback port) with curl `--digest`: the user is reported and the
//! hashcat 11400 line cracks to the password.

use super::*;

const USER: &str = "digestamy";
const REALM: &str = "tplab digest";
const PASSWORD: &str = "dig-Pw-31";

#[test]
fn http_digest_login_cracks_with_hashcat_11400() {
    skip_unless!(
        "http_digest_login_cracks_with_hashcat_11400",
        "tcpdump",
        "apache2",
        "curl",
        "md5sum"
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // apache2 drops to www-data: the directory must be readable by it.
    run_ok(Command::new("chmod").arg("755").arg(d));
    std::fs::create_dir_all(d.join("www/private")).unwrap();
    std::fs::write(d.join("www/private/index.html"), "secret page\n").unwrap();
    let ha1 = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' '{USER}:{REALM}:{PASSWORD}' | md5sum")),
    );
    let ha1 = ha1.split_whitespace().next().unwrap();
    std::fs::write(d.join("digest.pw"), format!("{USER}:{REALM}:{ha1}\n")).unwrap();
    let m = "/usr/lib/apache2/modules";
    let conf = format!(
        "ServerRoot {d}\nListen 127.0.0.1:{port}\nServerName localhost\nHostnameLookups Off\n\
         PidFile {d}/httpd.pid\nErrorLog {d}/error.log\nDefaultRuntimeDir {d}\n\
         User www-data\nGroup www-data\n\
         LoadModule mpm_event_module {m}/mod_mpm_event.so\n\
         LoadModule authn_core_module {m}/mod_authn_core.so\n\
         LoadModule authn_file_module {m}/mod_authn_file.so\n\
         LoadModule authz_core_module {m}/mod_authz_core.so\n\
         LoadModule authz_user_module {m}/mod_authz_user.so\n\
         LoadModule auth_digest_module {m}/mod_auth_digest.so\n\
         LoadModule dir_module {m}/mod_dir.so\n\
         DocumentRoot {d}/www\nDirectoryIndex index.html\n\
         <Location /private>\nAuthType Digest\nAuthName \"{REALM}\"\n\
         AuthDigestProvider file\nAuthUserFile {d}/digest.pw\nRequire valid-user\n</Location>\n",
        d = d.display()
    );
    std::fs::write(d.join("httpd.conf"), conf).unwrap();
    let _apache = spawn(
        "apache2",
        Command::new("apache2")
            .arg("-f")
            .arg(d.join("httpd.conf"))
            .arg("-DFOREGROUND")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let dump = Tcpdump::start(d, &format!("tcp port {port}"));
    let out = run_ok(
        Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "--digest",
                "-u",
                &format!("{USER}:{PASSWORD}"),
            ])
            .arg(format!("http://127.0.0.1:{port}/private/")),
    );
    assert_eq!(out, "secret page\n");
    let pcap = dump.stop();
    let s = Sniffed::of("http-digest", d, &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([seen(USER, None, &format!("GET 127.0.0.1:{port}/private/"))])
    );
    assert_eq!(s.creds[0]["hashcat_mode"], 11400);
    crack_all(&s.hash_dir, 11400, PASSWORD);
}
