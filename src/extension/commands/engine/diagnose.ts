import { command } from '../command';

export default command('berth.engine.diagnose', (berth) => berth.documents.showDiagnosis());
