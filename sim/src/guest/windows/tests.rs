//! The PowerShell subset as a Windows guest answers it over SSH.

use super::run;
use crate::guest::command::Output;
use crate::guest::testing::{self, Nowhere};
use crate::guest::{distro, lock, GuestRef};

fn windows() -> GuestRef {
    testing::booted(
        distro::place("windows2k22").unwrap(),
        "win",
        "Ethernet",
        "02:7c:3a:00:00:01",
    )
}

/// One SSH command, as the harness sends PowerShell: through cmd.exe.
fn ps(guest: &GuestRef, script: &str) -> Output {
    run(
        guest,
        &Nowhere,
        &format!("powershell -NoProfile -NonInteractive -Command \"{script}\""),
    )
}

fn sshd_pid(guest: &GuestRef) -> u32 {
    let g = lock(guest);
    *g.processes
        .iter()
        .find(|(_, p)| p.command == "sshd")
        .unwrap()
        .0
}

#[test]
fn parameters_bind_in_any_order_case_prefix_and_alias() {
    let g = windows();
    let pid = sshd_pid(&g);
    for script in [
        format!("Get-Process -Id {pid}"),
        format!("get-process -erroraction stop -ID {pid} | out-null"),
        format!("GET-PROCESS -EA Stop -i:{pid} | Out-Null").replace("-i:", "-Id:"),
        format!("gps -Id {pid} -ErrorAction SilentlyContinue"),
        "Get-Process -Name sshd".into(),
        "Get-Process sshd | Select-Object -First 1 -Property processname,ID".into(),
    ] {
        let out = ps(&g, &script);
        assert_eq!(out.code, 0, "{script}: {out:?}");
    }
    let picked = ps(
        &g,
        "Get-Process sshd | Select-Object processname,ID | ConvertTo-Json",
    );
    assert_eq!(
        picked.stdout,
        format!("{{\r\n    \"ProcessName\":  \"sshd\",\r\n    \"Id\":  {pid}\r\n}}\r\n")
    );
}

#[test]
fn a_missing_process_is_an_error_record_and_exit_1() {
    let g = windows();
    let out = ps(&g, "Get-Process -Id 999999 | Out-Null");
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "Get-Process : Cannot find a process with the process identifier 999999.\r\nAt line:1 char:1\r\n+ Get-Process -Id 999999 | Out-Null\r\n+ ~~~~~~~~~~~~~~~~~~~~~~\r\n    + CategoryInfo          : ObjectNotFound: (999999:Int32) [Get-Process], ProcessCommandException\r\n    + FullyQualifiedErrorId : NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.GetProcessCommand\r\n \r\n");
    let quiet = ps(&g, "Get-Process -Id 999999 -ErrorAction SilentlyContinue");
    assert_eq!((quiet.code, quiet.stderr.as_str()), (1, ""));
    let stopped = ps(
        &g,
        "Get-Process -Id 999999 -ErrorAction Stop; Write-Output after",
    );
    assert_eq!(
        (stopped.code, stopped.stdout.as_str()),
        (1, ""),
        "Stop ends the script"
    );
    let continued = ps(&g, "Get-Process -Id 999999; Write-Output after");
    assert_eq!(
        (continued.code, continued.stdout.as_str()),
        (0, "after\r\n")
    );
}

#[test]
fn unknown_commands_and_parameters_fail_as_powershell_does() {
    let g = windows();
    let out = ps(&g, "Get-Frobnicator -Fast 1");
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("Get-Frobnicator : The term 'Get-Frobnicator' is not recognized as the name of a cmdlet, function, script file, or operable program."), "{out:?}");
    assert!(
        out.stderr
            .contains("\r\n+ Get-Frobnicator -Fast 1\r\n+ ~~~~~~~~~~~~~~~\r\n"),
        "{out:?}"
    );
    assert!(out
        .stderr
        .contains("FullyQualifiedErrorId : CommandNotFoundException"));
    let bad = ps(&g, "Get-Process -Bogus 1");
    assert!(bad.stderr.starts_with("Get-Process : A parameter cannot be found that matches parameter name 'Bogus'.\r\nAt line:1 char:13\r\n"), "{bad:?}");
    assert!(bad
        .stderr
        .contains("NamedParameterNotFound,Microsoft.PowerShell.Commands.GetProcessCommand"));
    let ambiguous = ps(&g, "Get-Process -I 4");
    assert!(ambiguous.stderr.contains("is ambiguous. Possible matches include: -Id -InputObject -IncludeUserName -InformationAction -InformationVariable."), "{ambiguous:?}");
    let typed = ps(&g, "Get-Process -Id abc");
    assert!(
        typed
            .stderr
            .contains("Cannot convert value \"abc\" to type \"System.Int32\""),
        "{typed:?}"
    );
    let missing = ps(&g, "Get-Process -Id");
    assert!(missing.stderr.contains("Missing an argument for parameter 'Id'. Specify a parameter of type 'System.Int32[]' and try again."), "{missing:?}");
    let unparsed = ps(&g, "Get-Process |");
    assert!(
        unparsed
            .stderr
            .contains("An empty pipe element is not allowed."),
        "{unparsed:?}"
    );
    assert_eq!(ps(&g, "exit 3").code, 3);
}

#[test]
fn cmd_exe_runs_what_is_not_handed_to_powershell() {
    let g = windows();
    let out = run(&g, &Nowhere, "Get-Process -Id 4");
    assert_eq!(out.code, 9009);
    assert_eq!(out.stderr, "'Get-Process' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n");
    assert_eq!(
        run(&g, &Nowhere, "echo %NUMBER_OF_PROCESSORS%").stdout,
        "2\r\n"
    );
}

#[test]
fn start_process_dies_with_the_session_and_a_cim_process_survives() {
    let g = windows();
    let started = ps(&g, "(Start-Process -FilePath 'notepad.exe' -PassThru).Id");
    let pid: u32 = started.stdout.trim().parse().unwrap();
    let gone = ps(&g, &format!("Get-Process -Id {pid}"));
    assert_eq!(gone.code, 1, "the job object ended it: {gone:?}");
    let created = ps(&g, "Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{CommandLine='notepad.exe'} | Select-Object ProcessId,ReturnValue | ConvertTo-Json");
    let doc: serde_json::Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(doc["ReturnValue"], 0, "{created:?}");
    let pid = doc["ProcessId"].as_u64().unwrap();
    assert_eq!(ps(&g, &format!("Get-Process -Id {pid}")).code, 0);
    let absent = ps(&g, "(Invoke-CimMethod Win32_Process -MethodName Create -Arguments @{CommandLine='nope.exe'}).ReturnValue");
    assert_eq!(absent.stdout, "9\r\n", "Path Not Found");
}

#[test]
fn adapters_and_addresses_print_as_windows_does() {
    let g = windows();
    let adapter = ps(
        &g,
        "Get-NetAdapter | Select-Object Name,MacAddress,Status | ConvertTo-Json",
    );
    assert_eq!(adapter.stdout, "{\r\n    \"Name\":  \"Ethernet\",\r\n    \"MacAddress\":  \"02-7C-3A-00-00-01\",\r\n    \"Status\":  \"Up\"\r\n}\r\n");
    let v4 = ps(&g, "Get-NetIPAddress -AddressFamily IPv4 -InterfaceAlias Ethernet | Select-Object -ExpandProperty IPAddress");
    assert_eq!(v4.stdout, "10.0.2.2\r\n");
    let missing = ps(&g, "Get-NetAdapter -Name nope");
    assert!(missing.stderr.starts_with("Get-NetAdapter : No MSFT_NetAdapter objects found with property 'Name' equal to 'nope'."), "{missing:?}");
    let ping = ps(&g, "Test-Connection 10.0.2.9 -Quiet -Count 1");
    assert_eq!(ping.stdout, "False\r\n");
    let boot = ps(&g, "(Get-CimInstance -ClassName win32_operatingsystem).LastBootUpTime.ToUniversalTime().ToString('o')");
    let ticks = boot.stdout.trim_end().rsplit('.').next().unwrap_or("");
    assert!(ticks.len() == 8 && ticks.ends_with('Z'), "{boot:?}");
}

mod parsing {
    use super::super::parse::*;

    #[test]
    fn commands_split_into_parameters_and_values() {
        let s = script("get-process -ID:5 -erroraction Stop | Out-Null").unwrap();
        let Element::Command(c) = &s[0][0] else {
            panic!()
        };
        assert_eq!(c.name, "get-process");
        assert_eq!(c.args.len(), 3);
        assert_eq!(c.extent, Span { at: 0, len: 35 });
        assert!(matches!(&s[0][1], Element::Command(c) if c.name == "Out-Null"));
    }

    #[test]
    fn expressions_lists_and_hashtables_parse() {
        let s =
            script("Invoke-CimMethod Win32_Process Create -Arguments @{CommandLine='a b'; X=1}")
                .unwrap();
        let Element::Command(c) = &s[0][0] else {
            panic!()
        };
        let hash = Expr::Hash(vec![
            ("CommandLine".into(), Expr::Str("a b".into())),
            ("X".into(), Expr::Num(1)),
        ]);
        assert!(matches!(&c.args[3], Arg::Value(h, _) if *h == hash));
        let s = script("(Get-X).A.B('o')").unwrap();
        assert!(matches!(&s[0][0], Element::Expr(Expr::Sub(_, m), _) if m.len() == 2));
    }

    #[test]
    fn an_unterminated_string_is_a_parse_error() {
        let e = script("Get-Process -Name 'x").unwrap_err();
        assert_eq!(e.id, "TerminatorExpectedAtEndOfString");
        assert_eq!(script("Get-Process |").unwrap_err().id, "EmptyPipeElement");
    }
}
