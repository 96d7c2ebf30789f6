//! MQTT (Debian's mosquitto on a loopback port with a password file and
//! no anonymous access) with mosquitto_pub connecting as a user in MQTT
//! 3.1, 3.1.1 and 5.0.

use super::*;

const USER: &str = "mqttalice";
const PASSWORD: &str = "mqtt-Pw-42";

#[test]
fn mqtt_connect_user_and_password_in_three_versions() {
    skip_unless!(
        "mqtt_connect_user_and_password_in_three_versions",
        "tcpdump",
        "mosquitto",
        "mosquitto_pub",
        "mosquitto_passwd"
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    run_ok(
        Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([USER, PASSWORD]),
    );
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
             persistence false\nlog_dest stderr\nuser root\n",
            passwd.display()
        ),
    )
    .unwrap();
    let _broker = spawn(
        "mosquitto",
        Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    for v in ["mqttv31", "mqttv311", "mqttv5"] {
        run_ok(
            Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", v])
                .args(["-u", USER, "-P", PASSWORD, "-i", &format!("pub-{v}")])
                .args(["-t", "lab/test", "-m", "hello"]),
        );
    }
    // A wrong password is refused by the broker (and still a credential).
    let refused = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-i", "pub-bad"])
        .args(["-u", USER, "-P", "wrong", "-t", "lab/test", "-m", "x"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let pcap = dump.stop();
    let s = Sniffed::of("mqtt", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(
                USER,
                Some(PASSWORD),
                "CONNECT MQTT 3.1, client id pub-mqttv31"
            ),
            seen(
                USER,
                Some(PASSWORD),
                "CONNECT MQTT 3.1.1, client id pub-mqttv311"
            ),
            seen(
                USER,
                Some(PASSWORD),
                "CONNECT MQTT 5.0, client id pub-mqttv5"
            ),
            seen(USER, Some("wrong"), "CONNECT MQTT 3.1.1, client id pub-bad"),
        ])
    );
}
