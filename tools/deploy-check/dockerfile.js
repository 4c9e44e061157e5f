// A small Dockerfile reader: enough of the syntax to check the repository's
// own Dockerfile (stages, instructions, RUN commands), not a general parser.
"use strict";

// Returns [{name, from, instructions: [{keyword, args, line}]}], one entry per
// FROM. Comments and line continuations are handled; heredocs are not.
function parseDockerfile(text) {
  const stages = [];
  let pending = "";
  let pendingLine = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*#/.test(line)) continue;  // comments, also inside continuations
    if (pending === "") {
      if (line.trim() === "") continue;
      pendingLine = i + 1;
    }
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, " ");
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const match = /^(\S+)\s*(.*)$/s.exec(full);
    const instruction = {
      keyword: match[1].toUpperCase(),
      args: match[2].replace(/\s+/g, " ").trim(),
      line: pendingLine,
    };
    if (instruction.keyword === "FROM") {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      stages.push({
        name: from && from[2] ? from[2] : "",
        from: from ? from[1] : instruction.args,
        instructions: [],
      });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push(instruction);
    } else if (instruction.keyword !== "ARG") {
      throw new Error(`line ${instruction.line}: ${instruction.keyword} before FROM`);
    }
  }
  return stages;
}

function instructions(stage, keyword) {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

// Shell words of `text`, quotes removed, with the operators &&, ||, ; and |
// as words of their own. Enough for RUN lines; no expansions.
function shellWords(text) {
  const words = [];
  let word = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'" || ch === '"') {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) throw new Error(`unterminated ${ch} in: ${text}`);
      word = (word || "") + text.slice(i + 1, end);
      i = end;
    } else if (ch === "\\" && i + 1 < text.length) {
      word = (word || "") + text[++i];
    } else if (/\s/.test(ch) || ch === ";" || ch === "&" || ch === "|") {
      if (word !== null) words.push(word);
      word = null;
      if (ch === ";") words.push(";");
      if ((ch === "&" || ch === "|") && text[i + 1] === ch) words.push(ch + text[++i]);
      else if (ch === "|") words.push("|");
    } else {
      word = (word || "") + ch;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

// The simple commands of a RUN line as word lists: leading VAR=value
// assignments go to `env`, the rest to `words`.
function simpleCommands(runArgs) {
  const commands = [];
  let current = [];
  for (const word of [...shellWords(runArgs), ";"]) {
    if (["&&", "||", ";", "|"].includes(word)) {
      if (current.length > 0) commands.push(current);
      current = [];
    } else {
      current.push(word);
    }
  }
  return commands.map((all) => {
    const env = {};
    let first = 0;
    for (; first < all.length; first++) {
      const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(all[first]);
      if (!assignment) break;
      env[assignment[1]] = assignment[2];
    }
    return Object.assign(all.slice(first), { env });
  }).filter((words) => words.length > 0);
}

// The package names of every `apt-get install` in `stage`, options dropped.
function aptInstallPackages(stage) {
  const packages = [];
  let installs = 0;
  for (const run of instructions(stage, "RUN")) {
    for (const words of simpleCommands(run.args)) {
      if (words[0] !== "apt-get") continue;
      const install = words.indexOf("install");
      if (install < 0) continue;
      installs++;
      packages.push(...words.slice(install + 1).filter((w) => !w.startsWith("-")));
    }
  }
  return { installs, packages };
}

// The JSON (exec) form of ENTRYPOINT/CMD/VOLUME, or null for the shell form.
function execForm(instruction) {
  if (!instruction || !instruction.args.startsWith("[")) return null;
  try {
    const value = JSON.parse(instruction.args);
    return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : null;
  } catch {
    return null;
  }
}

function last(stage, keyword) {
  const found = instructions(stage, keyword);
  return found.length > 0 ? found[found.length - 1] : undefined;
}

// What the final stage promises to run with: user and group ids, exposed
// ports, volumes, entrypoint and command.
function runtimeFacts(stages) {
  const stage = stages[stages.length - 1];
  const user = last(stage, "USER");
  const ids = user ? /^(\d+):(\d+)$/.exec(user.args) : null;
  const volumes = [];
  for (const volume of instructions(stage, "VOLUME")) {
    volumes.push(...(execForm(volume) || volume.args.split(" ")));
  }
  return {
    stage,
    user: user ? user.args : undefined,
    uid: ids ? Number(ids[1]) : undefined,
    gid: ids ? Number(ids[2]) : undefined,
    exposedPorts: instructions(stage, "EXPOSE").flatMap((e) =>
      e.args.split(" ").map((p) => Number(p.replace(/\/tcp$/, "")))),
    volumes,
    entrypoint: execForm(last(stage, "ENTRYPOINT")),
    cmd: execForm(last(stage, "CMD")),
  };
}

module.exports = {
  aptInstallPackages,
  instructions,
  parseDockerfile,
  runtimeFacts,
  simpleCommands,
};
