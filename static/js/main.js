// reglab's page script, the entry module (templates/base.html loads it with type="module"):
// wires every page's listeners; each view's code lives in its own module beside this one.
// The vendored libraries stay classic scripts and are the only globals (htmx, Plotly).
import {wireActions} from "./actions.js";
import {Picks, wirePicks} from "./compare.js";
import {wireArmsEditor, wireFormErrors, wireTaskFields} from "./form.js";
import {tickHeartbeats, wireHeartbeats} from "./heartbeats.js";
import {wireExperimentList} from "./list.js";
import {Live, wireChartOptions} from "./live.js";

wireArmsEditor();
wireChartOptions();
wirePicks();
wireActions();
wireExperimentList();
wireFormErrors();
wireTaskFields();
wireHeartbeats();

// A module runs after the document is parsed and before DOMContentLoaded, which htmx also waits
// for (its script runs first, so it processes the page first, as with the classic script).
document.addEventListener("DOMContentLoaded", () => { Live.init(); tickHeartbeats(); Picks.show(); });
