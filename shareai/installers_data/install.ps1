<#
.SYNOPSIS
    shareai node agent installer for Windows.

.DESCRIPTION
    Checks for Python 3.11+, installs shareai (agent extra) into its own virtualenv, enrolls the
    machine with the coordinator, and registers the agent to start with Windows: a scheduled task
    at start-up running as SYSTEM and restarted on failure (default), or, with -AtLogon, a task in
    the owner's session (so idle-time mode sees their activity). Running it again upgrades in place
    and keeps the enrollment. -Uninstall removes the task and the virtualenv.

    -Tls: the coordinator serves gRPC over TLS (`shareai-coordinator serve --tls-cert/--tls-key`);
    -TlsCa PATH adds a CA bundle for a private CA (and implies -Tls). The choice is kept in the data
    dir (install-tls, and the CA copied to tls-ca.pem), so a re-run without them keeps it and the
    task runs `shareai-agent run --tls [--tls-ca ...]`; -NoTls drops it. A coordinator that serves
    TLS makes -Tls the default of the script it serves.

    The agent installed is the coordinator's own wheel (its version), downloaded from it and checked
    against the SHA-256 the served script carries before anything is installed; -Source overrides.
    llama-cpp-python compiles from source and needs Visual Studio Build Tools (C++ workload): the
    script checks first and stops with the winget line when they are missing; -LlamaWheelIndex
    (a URL, or cpu, cu121 ... cu124) takes a prebuilt build instead. The token reaches
    `shareai-agent enroll` through the environment, never its command line; -TokenFile reads it
    from a file, so it is not on this script's command line either.

    Served by the coordinator at GET /install.ps1 with its address filled in:
        & ([scriptblock]::Create((irm http://COORDINATOR:8080/install.ps1))) -Token TOKEN
    or from a checkout (elevated PowerShell):
        .\install.ps1 -Token TOKEN -Coordinator HOST:50051

.EXAMPLE
    .\install.ps1 -Uninstall -Purge
#>
[CmdletBinding()]
param(
    [string]$Token = "",
    [string]$TokenFile = "",
    [string]$LlamaWheelIndex = "",
    [string]$Coordinator = "",
    [string]$Name = "",
    [switch]$Tls,
    [string]$TlsCa = "",
    [switch]$NoTls,
    [string]$Prefix = "$env:ProgramData\shareai\venv",
    [string]$DataDir = "$env:ProgramData\shareai\data",
    [string]$Source = "",
    [string]$Python = "",
    [string]$PipArgs = "",
    [string]$Model = "",
    [string]$ModelName = "",
    [string]$ChatFormat = "",
    [string]$Config = "",
    [switch]$AtLogon,
    [switch]$NoService,
    [switch]$Uninstall,
    [switch]$Purge
)

$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

# Filled in by the coordinator that serves this script (GET /install.ps1); empty in the repository.
$ShareaiCoordinator = ""
# Set to $true by a coordinator that serves gRPC over TLS; $false in the repository.
$ShareaiTls = $false
# Filled in by that coordinator too: its HTTP address and the agent wheel it serves (its own
# version) with the wheel's SHA-256, checked before anything is installed. Empty in the repository.
$ShareaiUrl = ""
$ShareaiWheel = ""
$ShareaiWheelSha256 = ""
$ProgressSeconds = if ($env:SHAREAI_PROGRESS_S) { [int]$env:SHAREAI_PROGRESS_S } else { 15 }

$TaskName = "shareai-agent"
$Agent = Join-Path $Prefix "Scripts\shareai-agent.exe"

function Say([string]$Message) { Write-Host "shareai: $Message" }
function Fail([string]$Message) { Write-Error "shareai: error: $Message"; exit 1 }

function Test-Admin {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    return ([Security.Principal.WindowsPrincipal]$identity).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Find-Python {
    if ($Python) { return $Python }
    $candidates = @()
    if (Get-Command py -ErrorAction SilentlyContinue) { $candidates += , @("py", "-3") }
    if (Get-Command python -ErrorAction SilentlyContinue) { $candidates += , @("python") }
    foreach ($c in $candidates) {
        $exe = $c[0]
        $rest = @($c | Select-Object -Skip 1)
        $path = & $exe @rest -c "import sys; print(sys.executable) if sys.version_info >= (3, 11) else None" 2>$null
        if ($LASTEXITCODE -eq 0 -and $path) { return $path.Trim() }
    }
    return $null
}

function Get-PipSpec {
    if ($Source.Contains("[")) { return $Source }
    if ((Test-Path $Source -PathType Container) -or $Source.EndsWith(".whl")) {
        return "$((Resolve-Path $Source).Path)[agent]"
    }
    return $Source
}

# What pip installs: -Source, or the coordinator's wheel once its SHA-256 matches the served script's.
function Resolve-AgentSource {
    if ($Source) { return @{ Spec = (Get-PipSpec); Exact = "" } }
    if (-not $ShareaiWheel -or -not $ShareaiUrl) {
        Fail "no agent to install: fetch this script from your coordinator (irm http://COORDINATOR:8080/install.ps1) or pass -Source CHECKOUT|WHEEL|REQUIREMENT"
    }
    $wheel = Join-Path $script:Work $ShareaiWheel
    Say "downloading the agent $ShareaiWheel from $ShareaiUrl"
    Invoke-WebRequest -UseBasicParsing -Uri "$ShareaiUrl/install/$ShareaiWheel" -OutFile $wheel
    $got = (Get-FileHash -Algorithm SHA256 -Path $wheel).Hash.ToLowerInvariant()
    if ($got -ne $ShareaiWheelSha256) {
        Remove-Item -Force $wheel
        Fail "refusing ${ShareaiWheel}: its SHA-256 is $got but the coordinator's script expects $ShareaiWheelSha256 (corrupted or tampered with); nothing was installed"
    }
    Say "verified $ShareaiWheel (sha256 $got)"
    return @{ Spec = "$($wheel)[agent]"; Exact = $wheel }
}

function Test-BuildTools {
    $vswhere = Join-Path ${env:ProgramFiles(x86)} "Microsoft Visual Studio\Installer\vswhere.exe"
    if (-not (Test-Path $vswhere)) { return $false }
    $found = & $vswhere -latest -products * -requires Microsoft.VisualStudio.Component.VC.Tools.x86.x64 -property installationPath
    return [bool]$found
}

# A source build of llama-cpp-python needs the C++ build tools; check before anything is created.
function Assert-BuildTools {
    if ($LlamaWheelIndex) { return }
    if (Test-Path (Join-Path $Prefix "Scripts\python.exe")) {
        & (Join-Path $Prefix "Scripts\python.exe") -c "import llama_cpp" 2>$null
        if ($LASTEXITCODE -eq 0) { return }
    }
    if (-not (Test-BuildTools)) {
        Fail "building llama-cpp-python needs Visual Studio Build Tools (C++): winget install Microsoft.VisualStudio.2022.BuildTools --override `"--passive --add Microsoft.VisualStudio.Workload.VCTools --includeRecommended`" (or pass -LlamaWheelIndex for a prebuilt build)"
    }
    if (Get-Command nvidia-smi -ErrorAction SilentlyContinue) {
        Say "an NVIDIA GPU is present but this source build is CPU-only: re-run with -LlamaWheelIndex cu124 (your CUDA version) for a CUDA build"
    }
    Say "llama-cpp-python compiles from source: several minutes (progress below; -LlamaWheelIndex skips it)"
}

# pip with its output in a log: milestones are echoed as they come, and while a long step (the
# llama.cpp compile) prints nothing, a line every $ProgressSeconds seconds says it is still going.
function Invoke-Pip([string[]]$PipWords) {
    $log = Join-Path $script:Work "pip.log"
    $err = Join-Path $script:Work "pip.err"
    $quoted = ($PipWords | ForEach-Object { '"' + ($_ -replace '"', '\"') + '"' }) -join " "
    $proc = Start-Process -FilePath (Join-Path $Prefix "Scripts\python.exe") -ArgumentList "-m pip $quoted" `
        -RedirectStandardOutput $log -RedirectStandardError $err -NoNewWindow -PassThru
    $null = $proc.Handle  # without it, ExitCode may read empty after the process ends
    $shown = 0; $quiet = 0; $elapsed = 0
    while (-not $proc.HasExited) {
        Start-Sleep -Seconds 1
        $elapsed++; $quiet++
        $lines = @(Get-Content -Path $log -ErrorAction SilentlyContinue)
        foreach ($line in ($lines | Select-Object -Skip $shown)) {
            if ($line -match '^(Collecting |Building wheel|Successfully |Installing collected)') { Say "pip: $line" }
        }
        if ($lines.Count -gt $shown) { $shown = $lines.Count }
        if ($quiet -ge $ProgressSeconds) {
            $last = if ($lines.Count) { $lines[-1] } else { "" }
            Say "still installing (${elapsed}s): $last"
            $quiet = 0
        }
    }
    $proc.WaitForExit()
    foreach ($line in (@(Get-Content -Path $log -ErrorAction SilentlyContinue) | Select-Object -Skip $shown)) {
        if ($line -match '^(Collecting |Building wheel|Successfully |Installing collected)') { Say "pip: $line" }
    }
    if ($proc.ExitCode -ne 0) { Get-Content -Path $log, $err -Tail 40 | Write-Host }
    return $proc.ExitCode
}

function Install-Venv {
    $py = Find-Python
    if (-not $py) { Fail "Python 3.11 or newer is required: winget install Python.Python.3.12 (or pass -Python)" }
    # Everything that can refuse runs before the virtualenv exists: nothing is left half-installed.
    $agentSource = Resolve-AgentSource
    Assert-BuildTools
    $created = $false
    if (-not (Test-Path (Join-Path $Prefix "Scripts\python.exe"))) {
        & $py -m venv $Prefix
        if ($LASTEXITCODE -ne 0) { Fail "cannot create a virtualenv with $py" }
        $created = $true
        Say "created virtualenv $Prefix"
    }
    Say "installing $($agentSource.Spec) into $Prefix"
    $words = @("install", "--disable-pip-version-check", "--upgrade")
    if ($PipArgs) { $words += ($PipArgs -split '\s+') }
    if ($LlamaWheelIndex) { $words += @("--extra-index-url", $LlamaWheelIndex, "--only-binary", "llama-cpp-python") }
    $status = Invoke-Pip ($words + $agentSource.Spec)
    # The same version number may carry other bytes (a coordinator rebuilt from a checkout): pin them.
    if ($status -eq 0 -and $agentSource.Exact) {
        $status = Invoke-Pip @("install", "--disable-pip-version-check", "--force-reinstall", "--no-deps", $agentSource.Exact)
    }
    if ($status -ne 0) {
        # A virtualenv this run created and pip could not fill is removed, not left half-installed.
        if ($created) { Remove-Item -Recurse -Force $Prefix }
        Fail "pip install failed (see above)"
    }
    if (-not (Test-Path $Agent)) { Fail "$Agent is missing after the install" }
}

function Invoke-Enroll {
    if (-not $Token) {
        if (Test-Path (Join-Path $DataDir "identity.json")) {
            Say "no -Token: keeping the existing enrollment in $DataDir"
        } else {
            Say "no -Token: not enrolled yet; later run: & '$Agent' enroll --token-file FILE --coordinator HOST:50051 --data-dir '$DataDir'"
        }
        return
    }
    if (-not $script:ShareaiCoordinator) { Fail "-Coordinator HOST:PORT is needed with -Token" }
    Say "enrolling with $script:ShareaiCoordinator"
    # The token goes through the environment, never the command line (visible to other users).
    $enrollArgs = @("enroll", "--coordinator", $script:ShareaiCoordinator, "--data-dir", $DataDir)
    if ($Name) { $enrollArgs += @("--name", $Name) }
    if ($script:UseTls) {
        $enrollArgs += "--tls"
        # The CA given now, else the copy kept by an earlier run.
        $ca = if ($TlsCa) { $TlsCa } else { $script:RunTlsCa }
        if ($ca) { $enrollArgs += @("--tls-ca", $ca) }
    }
    $env:SHAREAI_ENROLL_TOKEN = $Token
    try { & $Agent @enrollArgs } finally { Remove-Item Env:SHAREAI_ENROLL_TOKEN -ErrorAction SilentlyContinue }
    switch ($LASTEXITCODE) {
        0 { Say "enrolled" }
        2 { Fail "enrollment refused (exit 2): the token is wrong, expired or used up" }
        default { Fail "enrollment failed (exit $LASTEXITCODE): is the coordinator reachable at $script:ShareaiCoordinator?" }
    }
}

function Get-RunArguments {
    $words = @("run", "--data-dir", $DataDir)
    if ($Config) { $words += @("--config", $Config) }
    if ($Model) { $words += @("--model", $Model) }
    if ($ModelName) { $words += @("--model-name", $ModelName) }
    if ($ChatFormat) { $words += @("--chat-format", $ChatFormat) }
    if ($script:UseTls) { $words += "--tls" }
    if ($script:RunTlsCa) { $words += @("--tls-ca", $script:RunTlsCa) }
    return ($words | ForEach-Object { '"' + ($_ -replace '"', '\"') + '"' }) -join " "
}

# Keep the TLS choice (and a copy of the CA) with the enrollment, for the task and later runs.
function Save-TlsChoice {
    if (-not $script:UseTls) {
        Remove-Item -Force -ErrorAction SilentlyContinue $TlsState, $TlsCaCopy
        return
    }
    if ($TlsCa -and ($TlsCa -ne $TlsCaCopy)) { Copy-Item -Force $TlsCa $TlsCaCopy }
    Set-Content -Path $TlsState -Value "# Written by the shareai installer: the agent reaches its coordinator over TLS."
}

function Register-AgentTask {
    $action = New-ScheduledTaskAction -Execute $Agent -Argument (Get-RunArguments) -WorkingDirectory $DataDir
    # No time limit, restart every minute after a failure, start even on battery.
    $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 `
        -RestartInterval (New-TimeSpan -Minutes 1) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
        -StartWhenAvailable -MultipleInstances IgnoreNew
    if ($AtLogon) {
        $trigger = New-ScheduledTaskTrigger -AtLogOn -User "$env:USERDOMAIN\$env:USERNAME"
        $principal = New-ScheduledTaskPrincipal -UserId "$env:USERDOMAIN\$env:USERNAME" -LogonType Interactive -RunLevel Limited
    } else {
        $trigger = New-ScheduledTaskTrigger -AtStartup
        $principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
    }
    if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
        Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
        Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
    }
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Settings $settings `
        -Principal $principal -Description "shareai node agent" | Out-Null
    Start-ScheduledTask -TaskName $TaskName
    Say "scheduled task '$TaskName' registered and started"
}

function Invoke-Uninstall {
    if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
        Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
        Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
        Say "removed scheduled task '$TaskName'"
    }
    if (Test-Path $Prefix) {
        if (-not (Test-Path (Join-Path $Prefix "pyvenv.cfg"))) { Fail "$Prefix is not a virtualenv; refusing to delete it" }
        Remove-Item -Recurse -Force $Prefix
        Say "removed $Prefix"
    }
    if ($Purge) {
        if (Test-Path $DataDir) { Remove-Item -Recurse -Force $DataDir }
        Say "removed $DataDir"
    } else {
        Say "kept $DataDir (the node's identity); -Purge removes it"
    }
}

if ($Coordinator) { $ShareaiCoordinator = $Coordinator }
$needsAdmin = -not $AtLogon -and -not $NoService
if ($needsAdmin -and -not (Test-Admin)) { Fail "run from an elevated PowerShell (or pass -AtLogon / -NoService)" }

if ($Uninstall) { Invoke-Uninstall; exit 0 }

if (-not $Token -and $env:SHAREAI_ENROLL_TOKEN) { $Token = $env:SHAREAI_ENROLL_TOKEN }
if ($TokenFile) {
    if (-not (Test-Path $TokenFile -PathType Leaf)) { Fail "-TokenFile ${TokenFile}: no such file" }
    $Token = (Get-Content -Raw -Path $TokenFile).Trim()
    if (-not $Token) { Fail "-TokenFile $TokenFile is empty" }
}
if ($LlamaWheelIndex -match '^(cpu|cu121|cu122|cu123|cu124|cu125)$') {
    $LlamaWheelIndex = "https://abetlen.github.io/llama-cpp-python/whl/$LlamaWheelIndex"
} elseif ($LlamaWheelIndex -and $LlamaWheelIndex -notmatch '^(https?|file)://') {
    Fail "-LlamaWheelIndex: an index URL, or one of cpu, cu121, cu122, cu123, cu124"
}
$Work = Join-Path ([IO.Path]::GetTempPath()) ("shareai-install-" + [Guid]::NewGuid().ToString("N"))
New-Item -ItemType Directory -Force -Path $Work | Out-Null

# TLS: an explicit switch wins; otherwise the choice kept in the data dir, or the serving coordinator's.
if ($NoTls -and ($Tls -or $TlsCa)) { Fail "-NoTls goes alone, without -Tls or -TlsCa" }
if ($TlsCa) {
    if (-not (Test-Path $TlsCa -PathType Leaf)) { Fail "-TlsCa ${TlsCa}: no such file" }
    $TlsCa = (Resolve-Path $TlsCa).Path
}
$TlsState = Join-Path $DataDir "install-tls"
$TlsCaCopy = Join-Path $DataDir "tls-ca.pem"
$UseTls = if ($NoTls) { $false } elseif ($Tls -or $TlsCa) { $true } else { (Test-Path $TlsState) -or $ShareaiTls }
# The CA the task reads: the copy in the data dir.
$RunTlsCa = if ($UseTls -and ($TlsCa -or (Test-Path $TlsCaCopy))) { $TlsCaCopy } else { "" }

try { Install-Venv } finally { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $Work }
New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
Invoke-Enroll
Save-TlsChoice
if ($NoService) {
    Say "installed without a task; run the agent with: & '$Agent' $(Get-RunArguments)"
} else {
    Register-AgentTask
}
